"""Node materials for the head: skin (subsurface, tone, mottling, pores, periocular detail, lid
margins, eyebrows as hair), eyes (two-tone iris with fibres, crypts and limbal ring, tinted sclera
with veins, pupil, a wet coat that makes the catchlights), eyelashes, glasses (frame, lens), and
the background plane / world.

Built once per process (``build_materials``); per clip only node default values change
(``apply_identity``, ``apply_eye_detail``, ``apply_brows``, ``apply_glasses``, ``apply_hair``,
``set_backdrop_*``, ``set_world_source``), so no shader is recompiled between clips
except when a new image/HDRI is loaded. Every node that changes per clip is named here
and found again by name. Socket names go through ``compat`` (Principled changed in 4.0).
"""
from __future__ import annotations

import os

import numpy as np

import bpy

from . import compat

VERSION_LT4 = compat.VERSION < (4, 0)

# Linear-RGB skin albedos from very light to very dark (measured-albedo ranges after
# Jimenez et al. 2010 / MakeHuman litsphere picks): a scalar tone in [0,1] interpolates them,
# so any sampler that draws one number gets plausible skin without picking RGB itself.
SKIN_TONES = np.array([
    [0.80, 0.56, 0.45],
    [0.68, 0.44, 0.33],
    [0.53, 0.32, 0.22],
    [0.36, 0.20, 0.12],
    [0.19, 0.10, 0.06],
    [0.08, 0.045, 0.03],
])

def ramp(table: np.ndarray, t: float) -> tuple:
    """Piecewise-linear lookup of a colour table by t in [0,1]; returns RGBA."""
    t = float(np.clip(t, 0.0, 1.0)) * (len(table) - 1)
    i = min(int(t), len(table) - 2)
    c = table[i] * (1 - (t - i)) + table[i + 1] * (t - i)
    return (float(c[0]), float(c[1]), float(c[2]), 1.0)


def rgba(rgb) -> tuple:
    """A linear RGB colour (the identity's iris, hair, brow and lash colours) as Blender's RGBA."""
    r, g, b = (float(v) for v in rgb)
    return (r, g, b, 1.0)


class _Builder:
    """Tiny helper to keep node-tree code readable: nodes placed left to right."""

    def __init__(self, mat):
        self.tree = mat.node_tree
        self.nodes = self.tree.nodes
        self.links = self.tree.links
        self.nodes.clear()
        self.x = 0

    def node(self, kind: str, name: str | None = None, **props):
        n = self.nodes.new(kind)
        if name:
            n.name = n.label = name
        for k, v in props.items():
            setattr(n, k, v)
        n.location = (self.x, -200 * (len(self.nodes) % 6))
        self.x += 60
        return n

    def link(self, a, b):
        self.links.new(a, b)

    def math(self, op: str, a, b=None, name=None, clamp=False):
        n = self.node("ShaderNodeMath", name, operation=op, use_clamp=clamp)
        for i, v in enumerate((a, b)):
            if v is None:
                continue
            if isinstance(v, (int, float)):
                n.inputs[i].default_value = v
            else:
                self.link(v, n.inputs[i])
        return n.outputs[0]

    def mix(self, fac, a, b, blend="MIX", name=None):
        n, f, ia, ib, out = compat.mix_rgb(self.nodes, blend)
        if name:
            n.name = n.label = name
        for sock, v in ((f, fac), (ia, a), (ib, b)):
            if isinstance(v, (int, float)):
                sock.default_value = v
            elif isinstance(v, tuple):
                sock.default_value = v
            else:
                self.link(v, sock)
        return out

    def mix_shader(self, fac, a, b):
        """Shader ``a`` where ``fac`` is 0, ``b`` where it is 1."""
        mix = self.node("ShaderNodeMixShader")
        self.link(fac, mix.inputs[0])
        self.link(a, mix.inputs[1])
        self.link(b, mix.inputs[2])
        return mix.outputs[0]

    def output(self, shader):
        """The material's surface is ``shader``."""
        out = self.node("ShaderNodeOutputMaterial")
        self.link(shader, out.inputs["Surface"])

    def rgb(self, name, value):
        n = self.node("ShaderNodeRGB", name)
        n.outputs[0].default_value = value
        return n.outputs[0]

    def value(self, name, v):
        n = self.node("ShaderNodeValue", name)
        n.outputs[0].default_value = v
        return n.outputs[0]

    def noise(self, vector, scale, detail=2.0, roughness=0.5, name=None):
        n = self.node("ShaderNodeTexNoise", name)
        if vector is not None:
            self.link(vector, n.inputs["Vector"])
        n.inputs["Scale"].default_value = scale
        n.inputs["Detail"].default_value = detail
        n.inputs["Roughness"].default_value = roughness
        return n


def _seed_offset(b: "_Builder", vector, name: str):
    """``vector`` + a per-identity offset (``apply_eye_detail`` sets it): moves a 3D texture's
    pattern per person without 4D noise/voronoi (4D voronoi searches 81 cells instead of 27)."""
    n = b.node("ShaderNodeVectorMath", name, operation="ADD")
    b.link(vector, n.inputs[0])
    n.inputs[1].default_value = (0.0, 0.0, 0.0)
    return n.outputs[0]


def _smooth01(b: "_Builder", v, lo: float, hi: float):
    """Clamped linear ramp 0 at ``lo`` .. 1 at ``hi`` (lo > hi ramps down)."""
    return b.math("DIVIDE", b.math("SUBTRACT", v, lo), hi - lo, clamp=True)


def brow_hair(b: "_Builder", brow_st, brow_hair_vec):
    """Eyebrow hair cover per shading point, 0..1 (the hm08 mesh has no brow geometry). Where the
    brow lies comes from vertex attributes (``periocular.brow_attributes``, per identity):
    ``brow_st`` = (weight, t across in half thicknesses, 0) and ``brow_hair_vec`` = the point in
    hair-aligned coordinates. Hairs are far below a pixel at 48 px, so what has to read as hair is
    the brow's feathered, streaky edge and uneven fill: a noise stretched along the local hair
    direction pushes the edge in and out and thins the fill (``brow_coarseness``)."""
    sep = b.node("ShaderNodeSeparateXYZ")
    b.link(brow_st, sep.inputs[0])
    weight, t, _ = sep.outputs
    streak = b.noise(_seed_offset(b, brow_hair_vec, "brow_hairs_offset"), 1.0, 1.0, 0.6, "brow_hairs").outputs["Fac"]
    # feathered edge: the streaks push the boundary in and out by up to ~40% of the half width
    tt = b.math("ADD", b.math("ABSOLUTE", t), b.math("MULTIPLY", b.math("SUBTRACT", streak, 0.5), 0.9))
    edge = _smooth01(b, tt, 1.0, 0.6)
    fill = b.math("SUBTRACT", 1.0, b.math("MULTIPLY", b.value("brow_coarseness", 0.5),
                                          b.math("MULTIPLY", _smooth01(b, streak, 0.62, 0.3), 0.5)))
    return b.math("MULTIPLY", b.math("MULTIPLY", edge, weight), fill, clamp=True)


def periocular_detail(b: "_Builder", rest, base, blotch, eye_masks, eye_lines):
    """Skin detail round the eyes that reads at ~1 mm per pixel, put in the base colour (eye-region
    renders have no bump or subsurface, generator.compat.EYE_CROPS): a ~2 mm grain (pores are
    sub-pixel there), freckles/moles, periorbital darkening (dark circles below, pigment on the
    lids) and fine lines (crow's feet, under-eye lines) with age. ``rest`` is the rest position,
    so the pattern stays on the skin as the lids move; the ring and line masks are vertex
    attributes (``periocular.periocular_attributes``). Amounts: value nodes (``apply_eye_detail``)."""
    coord = _seed_offset(b, rest, "skin_detail_offset")
    grain = b.noise(coord, 420.0, 1.0, 0.7, "skin_grain").outputs["Fac"]
    g_amt = b.value("skin_grain_amount", 0.5)
    grain_c = b.math("ADD", 1.0, b.math("MULTIPLY", g_amt, b.math("MULTIPLY", b.math("SUBTRACT", grain, 0.5), 0.3)))
    base = b.mix(1.0, base, _grey(b, grain_c), "MULTIPLY")
    # freckles / moles: voronoi cells ~4 mm, a spot where a cell's feature point is close, in the
    # patches where the skin's cm-scale blotch noise is below the identity's freckle amount
    vor = b.node("ShaderNodeTexVoronoi", "freckle_cells")
    b.link(coord, vor.inputs["Vector"])
    vor.inputs["Scale"].default_value = 260.0
    patch = b.math("ADD", 0.3, b.math("MULTIPLY", b.value("skin_freckles", 0.0), 0.4))  # 0.3: none, 0.7: ~all
    spot = b.math("MULTIPLY", _smooth01(b, vor.outputs["Distance"], 0.3, 0.15), b.math("LESS_THAN", blotch, patch))
    base = b.mix(b.math("MULTIPLY", spot, 0.45), base, b.mix(1.0, base, (0.45, 0.3, 0.22, 1.0), "MULTIPLY"))
    masks = b.node("ShaderNodeSeparateXYZ")
    b.link(eye_masks, masks.inputs[0])
    peri = b.math("MULTIPLY", masks.outputs[2], b.value("periorbital_darkening", 0.0))
    base = b.mix(peri, base, b.mix(1.0, base, (0.62, 0.52, 0.56, 1.0), "MULTIPLY"))
    # fine lines: thin dark bands radiating from the outer corner (crow's feet) and along the lower
    # lid; the grain noise bends them so no two run parallel
    lines = b.node("ShaderNodeSeparateXYZ")
    b.link(eye_lines, lines.inputs[0])
    crow_phase, crow_mask, under_mask = lines.outputs
    rest_xyz = b.node("ShaderNodeSeparateXYZ")
    b.link(rest, rest_xyz.inputs[0])
    bend = b.math("MULTIPLY", grain, 9.0)
    crow = b.math("MULTIPLY", _smooth01(b, b.math("SINE", b.math("ADD", crow_phase, bend)), 0.75, 0.97), crow_mask)
    under_phase = b.math("ADD", b.math("MULTIPLY", rest_xyz.outputs[2], 2200.0), bend)  # ~3 mm apart
    under = b.math("MULTIPLY", _smooth01(b, b.math("SINE", under_phase), 0.8, 0.98), under_mask)
    amount = b.math("MULTIPLY", b.math("MAXIMUM", crow, under), b.value("skin_wrinkles", 0.0))
    return b.mix(b.math("MULTIPLY", amount, 0.35), base, b.mix(1.0, base, (0.55, 0.45, 0.42, 1.0), "MULTIPLY"))


def _grey(b: "_Builder", v):
    """A scalar as a grey colour (for MULTIPLY mixes)."""
    c = b.node("ShaderNodeCombineXYZ")
    for k in range(3):
        b.link(v, c.inputs[k])
    return c.outputs[0]


def build_skin(lips_mask: str | None = None):
    """Skin: tone x low-frequency mottling x redness, periocular detail, lid margins, eyebrows as
    hair, pores as bump.

    Coordinates are object-space or the rest position (metres, face looking down -Y), so patterns
    keep their physical size whatever the identity. Where the brows and the periocular masks lie
    is per-vertex attributes (``periocular``); scalp hair is the point attribute ``scalp``; the
    scene writes all per identity.
    """
    mat = compat.new_material("Skin")
    b = _Builder(mat)
    coord = b.node("ShaderNodeTexCoord").outputs["Object"]
    tone = b.rgb("skin_tone", (0.53, 0.32, 0.22, 1.0))
    redness = b.rgb("skin_red", (0.55, 0.18, 0.14, 1.0))
    # Mottling: blotches a few cm wide, +-10% albedo.
    blotch = b.noise(coord, 25.0, 3.0, 0.55, "blotch").outputs["Fac"]
    blotch_c = b.mix(blotch, (0.82, 0.82, 0.82, 1.0), (1.12, 1.1, 1.08, 1.0))
    base = b.mix(1.0, tone, blotch_c, "MULTIPLY")
    # Redness patches (cheeks, lids, nose), a larger-scale noise.
    red_n = b.noise(coord, 8.0, 1.0, 0.5, "red_noise").outputs["Fac"]
    red_amt = b.math("MULTIPLY", b.math("SUBTRACT", red_n, 0.45, clamp=True), 0.6, name="red_amount")
    base = b.mix(red_amt, base, redness, "MIX")
    if lips_mask and os.path.isfile(lips_mask):
        uv = b.node("ShaderNodeTexCoord").outputs["UV"]
        tex = b.node("ShaderNodeTexImage", "lips_mask")
        tex.image = compat.load_image(lips_mask)
        tex.image.colorspace_settings.name = "Non-Color"
        b.link(uv, tex.inputs["Vector"])
        lips_col = b.mix(0.55, base, redness, "MULTIPLY")
        base = b.mix(tex.outputs["Color"], base, lips_col)
    # The skin's rest position (attribute ``skin_rest``, the identity's unposed vertices): patterns
    # on it stay on the skin as the lids and brows move (object coordinates would slide under them).
    rest = b.node("ShaderNodeAttribute", "skin_rest_attr", attribute_name="skin_rest").outputs["Vector"]
    eye_masks = b.node("ShaderNodeAttribute", "eye_masks_attr", attribute_name="eye_masks").outputs["Vector"]
    eye_lines = b.node("ShaderNodeAttribute", "eye_lines_attr", attribute_name="eye_lines").outputs["Vector"]
    base = periocular_detail(b, rest, base, blotch, eye_masks, eye_lines)
    # Lid margins (``eye_masks``, per identity): the caruncle in the inner corner is pink, the
    # lower lid's wet margin (tear meniscus) a little pinker, and both glossy (roughness below).
    margins = b.node("ShaderNodeSeparateXYZ")
    b.link(eye_masks, margins.inputs[0])
    caruncle = margins.outputs[0]
    tear = b.math("MULTIPLY", margins.outputs[1], b.value("tear_film", 0.6))
    pink = b.rgb("caruncle_colour", (0.55, 0.22, 0.22, 1.0))
    base = b.mix(b.math("MULTIPLY", tear, 0.35), base, pink)
    base = b.mix(caruncle, base, pink)
    # Eye make-up (``makeup``: liner and shadow weights per identity, on the lid skin): pigment
    # over the skin, shadow first, the liner on top of it.
    makeup = b.node("ShaderNodeSeparateXYZ")
    b.link(b.node("ShaderNodeAttribute", "makeup_attr", attribute_name="makeup").outputs["Vector"], makeup.inputs[0])
    base = b.mix(makeup.outputs[1], base, b.rgb("shadow_colour", (0.3, 0.2, 0.15, 1.0)))
    base = b.mix(makeup.outputs[0], base, b.rgb("liner_colour", (0.01, 0.01, 0.01, 1.0)))
    # Eyebrows as hair (``brow_hair``); density sets how solid they read.
    brow_st = b.node("ShaderNodeAttribute", "brow_st_attr", attribute_name="brow_st").outputs["Vector"]
    brow_vec = b.node("ShaderNodeAttribute", "brow_hair_attr", attribute_name="brow_hair").outputs["Vector"]
    brow = brow_hair(b, brow_st, brow_vec)
    density = b.value("brow_density", 0.9)
    brow_fac = b.math("MULTIPLY", brow, b.math("ADD", 0.25, b.math("MULTIPLY", density, 0.75)), clamp=True)
    brow_col = b.rgb("brow_colour", (0.03, 0.015, 0.008, 1.0))
    # many hairs shade each other: a brow reads darker than its hair's colour (real brows at 48 px)
    brow_col = b.mix(1.0, brow_col, (0.6, 0.6, 0.6, 1.0), "MULTIPLY")
    base = b.mix(brow_fac, base, brow_col, name="brow_mix")
    # Scalp hair: the point attribute ``scalp`` (1 above the hairline), strands along z.
    scalp = b.node("ShaderNodeAttribute", "scalp_attr", attribute_name="scalp")
    scalp_map = b.node("ShaderNodeMapping", "scalp_map")
    b.link(coord, scalp_map.inputs["Vector"])
    scalp_map.inputs["Scale"].default_value = (1500.0, 1500.0, 60.0)
    strands = b.noise(scalp_map.outputs["Vector"], 1.0, 2.0, 0.6, "scalp_strands").outputs["Fac"]
    hair_col = b.rgb("hair_colour", (0.02, 0.01, 0.005, 1.0))
    hair_shade = b.mix(b.math("MULTIPLY", strands, 1.0), (0.45, 0.45, 0.45, 1.0), (1.6, 1.6, 1.6, 1.0))
    hair_c = b.mix(1.0, hair_col, hair_shade, "MULTIPLY")
    scalp_fac = b.math("MULTIPLY", scalp.outputs["Fac"], b.value("scalp_amount", 1.0))
    base = b.mix(scalp_fac, base, hair_c, name="scalp_mix")
    # Pores: fine bump; brow hairs add their own relief.
    pores = b.noise(coord, 1400.0, 2.0, 0.6, "pores").outputs["Fac"]
    bump = b.node("ShaderNodeBump", "skin_bump")
    bump.inputs["Strength"].default_value = 0.12
    b.link(b.math("ADD", pores, b.math("MULTIPLY", brow_fac, 0.6)), bump.inputs["Height"])
    bsdf = b.node("ShaderNodeBsdfPrincipled", "skin_bsdf")
    b.link(base, bsdf.inputs["Base Color"])
    compat.set_principled(bsdf, Subsurface_Weight=0.25, Roughness=0.45, Specular_IOR_Level=0.45,
                          Coat_Weight=0.0)
    sr = compat.principled_socket(bsdf, "Subsurface Radius")
    sr.default_value = (1.0, 0.35, 0.2)  # red scatters furthest in skin
    scale = compat.principled_socket(bsdf, "Subsurface Scale")
    if scale is not None:
        scale.default_value = 0.004  # metres: skin mean free path is mm-scale
    else:
        sr.default_value = (0.004, 0.0014, 0.0008)
    if VERSION_LT4:
        bsdf.inputs["Subsurface Color"].default_value = (0.8, 0.35, 0.25, 1.0)
    # Roughness: brows and shiny T-zone variation.
    rough = b.math("ADD", b.math("MULTIPLY", blotch, 0.2), b.value("skin_roughness", 0.35))
    rough = b.math("MAXIMUM", rough, b.math("MULTIPLY", scalp_fac, 0.6))
    # brow hair scatters the sky's reflection (a dark albedo under skin gloss read blue-grey)
    rough = b.math("MAXIMUM", rough, b.math("MULTIPLY", brow_fac, 0.7))
    wet = b.math("MAXIMUM", tear, b.math("MULTIPLY", caruncle, 0.8))  # wet tissue is glossy
    rough = b.math("ADD", b.math("MULTIPLY", rough, b.math("SUBTRACT", 1.0, wet)), b.math("MULTIPLY", wet, 0.06))
    b.link(rough, bsdf.inputs["Roughness"])
    # a tear film reflects like water over the skin's oil: stronger specular on the wet margin
    b.link(b.math("ADD", 0.45, b.math("MULTIPLY", wet, 0.55)), compat.principled_socket(bsdf, "Specular IOR Level"))
    b.link(bump.outputs["Normal"], bsdf.inputs["Normal"])
    b.output(bsdf.outputs[0])
    # Base colour after lips/brows is what 3.x subsurface should scatter too.
    if VERSION_LT4:
        b.link(base, bsdf.inputs["Subsurface Color"])
    return mat


def build_eye():
    """Eyeball in its own object space: forward is local -Y, radius 1 (the scene scales the
    object to the identity's eyeball radius). r = distance from the optical axis decides
    pupil / iris / limbus / sclera; a clear coat is the wet cornea and conjunctiva (specular
    highlights, catchlights of the lights and sky).

    Iris: an outer (ciliary) and an inner (pupillary) tone meeting at a wavy collarette, radial
    fibres, dark crypts in the ciliary zone, concentric furrows near the edge, a dark pupillary
    ruff and a limbal ring; sclera: the identity's tint, vessels fading in toward the iris and a
    pinker, darker rim toward the corners. Per-identity values: ``apply_identity``/``apply_eye_detail``."""
    mat = compat.new_material("Eye")
    b = _Builder(mat)
    coord = b.node("ShaderNodeTexCoord").outputs["Object"]
    sep = b.node("ShaderNodeSeparateXYZ")
    b.link(coord, sep.inputs[0])
    x, y, z = sep.outputs
    r = b.math("SQRT", b.math("ADD", b.math("MULTIPLY", x, x), b.math("MULTIPLY", z, z)))
    front = b.math("LESS_THAN", y, 0.0)  # back half of the ball is never iris
    iris_r = b.value("iris_radius", 0.5)   # iris ~12 mm across on a ~25 mm ball
    pupil_r = b.value("pupil_radius", 0.17)
    rn = b.math("DIVIDE", r, iris_r)  # 1 at the limbus
    in_iris = b.math("MULTIPLY", b.math("LESS_THAN", rn, 1.0), front)
    ux = b.math("DIVIDE", x, b.math("ADD", r, 1e-4))  # direction round the axis
    uz = b.math("DIVIDE", z, b.math("ADD", r, 1e-4))
    # Radial fibres: noise on the direction round the axis, slowly varying with radius.
    dirv = b.node("ShaderNodeCombineXYZ")
    b.link(ux, dirv.inputs[0])
    b.link(b.math("MULTIPLY", rn, 0.6), dirv.inputs[1])
    b.link(uz, dirv.inputs[2])
    fib = b.noise(dirv.outputs[0], 11.0, 2.0, 0.65, "iris_fibres").outputs["Fac"]
    # Collarette: the boundary of the two zones, wavy round the pupil.
    wave = b.noise(_seed_offset(b, dirv.outputs[0], "iris_collarette_offset"), 3.0, 0.0, 0.5, "iris_collarette").outputs["Fac"]
    cr = b.math("ADD", b.value("collarette_radius", 0.55), b.math("MULTIPLY", b.math("SUBTRACT", wave, 0.5), 0.3))
    inner_zone = _smooth01(b, b.math("SUBTRACT", rn, cr), 0.03, -0.03)
    outer_col = b.rgb("iris_colour", (0.2, 0.11, 0.04, 1.0))
    inner_col = b.rgb("iris_inner_colour", (0.2, 0.11, 0.04, 1.0))
    iris_c = b.mix(inner_zone, outer_col, inner_col)
    contrast = b.value("iris_fibre_contrast", 0.6)
    fib_fac = b.math("MULTIPLY", b.math("SUBTRACT", fib, 0.5), b.math("MULTIPLY", contrast, 1.6))
    light = b.math("ADD", 1.0, fib_fac)  # fibres lighten and darken about the zone's tone
    lv = b.node("ShaderNodeCombineXYZ")
    for k in range(3):
        b.link(light, lv.inputs[k])
    iris_c = b.mix(1.0, iris_c, lv.outputs[0], "MULTIPLY")
    ridge = b.math("MULTIPLY", _smooth01(b, b.math("ABSOLUTE", b.math("SUBTRACT", rn, cr)), 0.04, 0.0),
                   b.math("MULTIPLY", _smooth01(b, fib, 0.45, 0.7), 0.2))  # broken up: a full bright ring read drawn
    iris_c = b.mix(ridge, iris_c, (0.75, 0.62, 0.45, 1.0), "SCREEN")
    # Crypts: dark pits in the ciliary zone (voronoi cells round the axis, W-shifted per identity).
    cv = b.node("ShaderNodeCombineXYZ")
    b.link(b.math("MULTIPLY", ux, 2.2), cv.inputs[0])
    b.link(b.math("MULTIPLY", rn, 5.0), cv.inputs[1])
    b.link(b.math("MULTIPLY", uz, 2.2), cv.inputs[2])
    vor = b.node("ShaderNodeTexVoronoi", "iris_crypt_cells")
    b.link(_seed_offset(b, cv.outputs[0], "iris_crypt_offset"), vor.inputs["Vector"])
    vor.inputs["Scale"].default_value = 3.0
    cil = b.math("MULTIPLY", _smooth01(b, b.math("SUBTRACT", rn, cr), 0.0, 0.06), _smooth01(b, rn, 0.9, 0.78))
    crypt = b.math("MULTIPLY", b.math("MULTIPLY", _smooth01(b, vor.outputs["Distance"], 0.3, 0.12), cil),
                   b.value("iris_crypts", 0.5))
    iris_c = b.mix(b.math("MULTIPLY", crypt, 0.7), iris_c, b.mix(1.0, iris_c, (0.25, 0.25, 0.25, 1.0), "MULTIPLY"))
    # Contraction furrows near the edge, the dark ruff at the pupil margin, the limbal ring.
    furrow = b.math("MULTIPLY", _smooth01(b, b.math("SINE", b.math("MULTIPLY", rn, 60.0)), 0.6, 1.0),
                    _smooth01(b, rn, 0.7, 0.85))
    ruff = _smooth01(b, b.math("DIVIDE", r, pupil_r), 1.2, 1.0)
    limbus = b.math("POWER", _smooth01(b, rn, 0.72, 1.0), 1.6)
    dark = b.math("ADD", b.math("MULTIPLY", furrow, 0.25), b.math("MULTIPLY", ruff, 0.6))
    dark = b.math("MAXIMUM", dark, b.math("MULTIPLY", limbus, b.value("limbal_ring", 0.6)), clamp=True)
    iris_c = b.mix(dark, iris_c, (0.012, 0.01, 0.008, 1.0))
    # Sclera: the identity's tint, vessels fading in toward the iris, pinker and darker toward the
    # corners (the conjunctiva thickens and the lids shade; the lid shadow itself is geometry).
    veins = b.noise(coord, 6.0, 6.0, 0.65, "veins").outputs["Fac"]
    vein_line = b.math("LESS_THAN", b.math("ABSOLUTE", b.math("SUBTRACT", veins, 0.5)),
                       b.math("ADD", 0.006, b.math("MULTIPLY", b.value("sclera_veins", 0.3), 0.02)))
    vein_fac = b.math("MULTIPLY", vein_line, b.math("MULTIPLY", b.math("SUBTRACT", r, 0.6, clamp=True), 1.8), clamp=True)
    sclera = b.rgb("sclera_colour", (0.78, 0.74, 0.68, 1.0))
    sclera_c = b.mix(b.math("MULTIPLY", vein_fac, 0.8), sclera, (0.55, 0.1, 0.08, 1.0))
    rim = b.math("MULTIPLY", _smooth01(b, r, 0.78, 0.98), b.math("ADD", 0.25, b.math("MULTIPLY", b.value("sclera_veins", 0.3), 0.4)))
    sclera_c = b.mix(rim, sclera_c, (0.62, 0.4, 0.37, 1.0))
    col = b.mix(in_iris, sclera_c, iris_c)
    pupil = b.math("MULTIPLY", b.math("LESS_THAN", r, pupil_r), front)
    col = b.mix(pupil, col, (0.004, 0.004, 0.004, 1.0), name="pupil_mix")
    bsdf = b.node("ShaderNodeBsdfPrincipled", "eye_bsdf")
    b.link(col, bsdf.inputs["Base Color"])
    # The tear film is the one reflecting surface: a sharp coat over a base without its own
    # specular (a rough base lobe spread each catchlight into a glow over the pupil)
    compat.set_principled(bsdf, Roughness=0.5, Specular_IOR_Level=0.0, Subsurface_Weight=0.0,
                          Coat_Weight=1.0, Coat_Roughness=0.02)
    b.output(bsdf.outputs[0])
    return mat


def build_lashes():
    """Dark, thin lashes on the helper cards: alpha-masked into hairs radiating from the eye's
    centre (``lash_eye_x``/``lash_eye_z``: the eyeball centre of the identity, head frame)."""
    mat = compat.new_material("Eyelashes")
    compat.blend_mode_alpha(mat)
    b = _Builder(mat)
    coord = b.node("ShaderNodeTexCoord").outputs["Object"]
    sep = b.node("ShaderNodeSeparateXYZ")
    b.link(coord, sep.inputs[0])
    x, _, z = sep.outputs
    dx = b.math("SUBTRACT", b.math("ABSOLUTE", x), b.value("lash_eye_x", 0.032))
    dz = b.math("SUBTRACT", z, b.value("lash_eye_z", 0.0))
    angle = b.math("ARCTAN2", dz, dx)
    # ~150 hairs per turn (~0.5 mm apart at the lid margin); a little noise bends/spaces them
    wob = b.noise(coord, 400.0, 0.0, 0.5, "lash_wobble").outputs["Fac"]
    phase = b.math("ADD", b.math("MULTIPLY", angle, 45.0), b.math("MULTIPLY", wob, 2.0))
    line = b.math("ABSOLUTE", b.math("SINE", phase))
    strand = b.math("MULTIPLY", b.math("SUBTRACT", line, b.value("lash_threshold", 0.3), clamp=True), 4.0, clamp=True)
    # lash_root: 1 at the lid margin, 0 at the card's far edge: lashes are dense at the root
    # (the dark lash line) and thin out toward the tips.
    root = b.node("ShaderNodeAttribute", "lash_root_attr", attribute_name="lash_root").outputs["Fac"]
    taper = b.math("POWER", root, 1.2)
    alpha = b.math("MULTIPLY", b.math("MULTIPLY", taper, 1.1),
                   b.math("ADD", b.math("MULTIPLY", strand, 0.4), 0.6), clamp=True)
    bsdf = b.node("ShaderNodeBsdfPrincipled", "lash_bsdf")
    col = b.rgb("lash_colour", (0.01, 0.008, 0.006, 1.0))
    b.link(col, bsdf.inputs["Base Color"])
    compat.set_principled(bsdf, Roughness=0.6, Specular_IOR_Level=0.2)
    transp = b.node("ShaderNodeBsdfTransparent")
    b.output(b.mix_shader(alpha, transp.outputs[0], bsdf.outputs[0]))
    return mat


def build_mouth():
    """Teeth/tongue/inner mouth: dark, only seen when the jaw opens."""
    mat = compat.new_material("Mouth")
    b = _Builder(mat)
    bsdf = b.node("ShaderNodeBsdfPrincipled", "mouth_bsdf")
    compat.set_principled(bsdf, Base_Color=(0.35, 0.12, 0.1, 1.0), Roughness=0.4)
    b.output(bsdf.outputs[0])
    return mat


def build_glasses_frame():
    """Spectacle frame: plastic (acetate) or metal, the colour and finish set by ``apply_glasses``."""
    mat = compat.new_material("GlassesFrame")
    b = _Builder(mat)
    bsdf = b.node("ShaderNodeBsdfPrincipled", "frame_bsdf")
    compat.set_principled(bsdf, Base_Color=(0.02, 0.02, 0.02, 1.0), Roughness=0.3, Specular_IOR_Level=0.5)
    b.output(bsdf.outputs[0])
    return mat


def build_glasses_lens():
    """Spectacle lens as a thin sheet: see-through (a transparent BSDF, tinted: no refraction, so
    the eye behind stays where the labels put it) plus a sharp reflection weighted by Fresnel at
    the lens's IOR (~4% head-on, much more at grazing angles): the lights and sky show on it."""
    mat = compat.new_material("GlassesLens")
    compat.blend_mode_alpha(mat)
    b = _Builder(mat)
    fres = b.node("ShaderNodeFresnel", "lens_fresnel")
    fres.inputs["IOR"].default_value = 1.5
    boost = b.math("MULTIPLY", fres.outputs[0], b.value("lens_reflection", 1.0), clamp=True)
    transp = b.node("ShaderNodeBsdfTransparent", "lens_transparent")
    b.link(b.rgb("lens_tint", (0.97, 0.97, 0.97, 1.0)), transp.inputs["Color"])
    gloss = b.node(compat.glossy_node_idname(), "lens_glossy")
    gloss.inputs["Roughness"].default_value = 0.02
    b.output(b.mix_shader(boost, transp.outputs[0], gloss.outputs[0]))
    return mat


def apply_glasses(mats: dict, glasses) -> None:
    """A sampling.identity.Glasses: frame colour and finish, lens tint and reflection."""
    frame = mats["glasses_frame"]
    bsdf = frame.node_tree.nodes["frame_bsdf"]
    compat.set_principled(bsdf, Base_Color=rgba(glasses.frame_colour), Metallic=1.0 if glasses.metal else 0.0,
                          Roughness=0.22 if glasses.metal else 0.32)
    frame.diffuse_color = rgba(glasses.frame_colour)
    _set(mats["glasses_lens"].node_tree, "lens_tint", rgba(glasses.lens_tint))
    _set(mats["glasses_lens"].node_tree, "lens_reflection", float(glasses.lens_reflection))


TEXTURE_NODES = {"noise": "ShaderNodeTexNoise", "voronoi": "ShaderNodeTexVoronoi", "wave": "ShaderNodeTexWave",
                 "checker": "ShaderNodeTexChecker", "magic": "ShaderNodeTexMagic"}


def build_backdrop():
    """Background plane: an image (user folder) or one of Blender's procedural textures through
    two colours. Every texture kind is built once; a clip relinks the one it uses (``bg_tex_<kind>``)
    into ``bg_pattern`` and sets ``bg_is_image``."""
    mat = compat.new_material("Backdrop")
    b = _Builder(mat)
    uv = b.node("ShaderNodeTexCoord").outputs["UV"]
    mapping = b.node("ShaderNodeMapping", "bg_map")
    b.link(uv, mapping.inputs["Vector"])
    for kind, idname in TEXTURE_NODES.items():
        tex = b.node(idname, f"bg_tex_{kind}")
        b.link(mapping.outputs["Vector"], tex.inputs["Vector"])
    pattern = b.node("ShaderNodeMath", "bg_pattern", operation="MULTIPLY")  # input 0 <- chosen texture
    pattern.inputs[1].default_value = 1.0
    b.link(b.nodes["bg_tex_noise"].outputs["Fac"], pattern.inputs[0])
    proc = b.mix(pattern.outputs[0], b.rgb("bg_colour_a", (0.2, 0.2, 0.25, 1.0)), b.rgb("bg_colour_b", (0.5, 0.45, 0.4, 1.0)))
    img_map = b.node("ShaderNodeMapping", "bg_image_map")
    b.link(uv, img_map.inputs["Vector"])
    img = b.node("ShaderNodeTexImage", "bg_image")
    compat.set_image_extension(img, "MIRROR")  # zoom/pan never shows an edge
    b.link(img_map.outputs["Vector"], img.inputs["Vector"])
    col = b.mix(b.value("bg_is_image", 0.0), proc, img.outputs["Color"], name="bg_choice")
    # Emission, not diffuse: a photo/texture should look like itself whatever the key light does;
    # the brightness follows the clip's ambient level (low-light clips get a dark background).
    emit = b.node("ShaderNodeEmission", "bg_emission")
    b.link(col, emit.inputs["Color"])
    emit.inputs["Strength"].default_value = 1.0
    b.output(emit.outputs[0])
    return mat


def set_backdrop_texture(mat, kind: str, scale: float, detail: float, distortion: float, seed: int) -> None:
    tree = mat.node_tree
    if kind not in TEXTURE_NODES:
        raise ValueError(f"background.texture_kind: must be one of {sorted(TEXTURE_NODES)}, got {kind!r}")
    tex = tree.nodes[f"bg_tex_{kind}"]
    out = tex.outputs["Fac"] if "Fac" in tex.outputs else tex.outputs["Distance"]
    pattern = tree.nodes["bg_pattern"]
    for link in list(pattern.inputs[0].links):
        if link.from_socket != out:
            tree.links.remove(link)
    if not pattern.inputs[0].links:
        tree.links.new(out, pattern.inputs[0])
    for name, value in (("Scale", scale), ("Detail", detail), ("Distortion", distortion)):
        if name in tex.inputs:
            tex.inputs[name].default_value = value
    if kind == "magic":
        tex.turbulence_depth = max(1, min(6, int(detail)))
    rng = np.random.default_rng(int(seed))
    tree.nodes["bg_map"].inputs["Location"].default_value = tuple(float(v) for v in rng.uniform(-50, 50, 3))


def set_backdrop_image(mat, image, flip: bool, zoom: float, pan_x: float, pan_y: float) -> None:
    tree = mat.node_tree
    tree.nodes["bg_image"].image = image
    m = tree.nodes["bg_image_map"]
    z = 1.0 / max(float(zoom), 1e-3)
    m.inputs["Scale"].default_value = (-z if flip else z, z, 1.0)
    # pan in [-1, 1] moves the visible window over the part of the image the zoom leaves out
    m.inputs["Location"].default_value = ((1 if flip else 0) + pan_x * (1 - z) * 0.5, pan_y * (1 - z) * 0.5, 0.0)


def build_world():
    """World: HDRI environment (rotatable), a physical sky, or a flat ambient colour; the
    clip picks one by linking it into ``world_bg``."""
    world = compat.new_world("World")
    b = _Builder(world)
    coord = b.node("ShaderNodeTexCoord").outputs["Generated"]
    mapping = b.node("ShaderNodeMapping", "env_map")
    b.link(coord, mapping.inputs["Vector"])
    env = b.node("ShaderNodeTexEnvironment", "env_tex")
    b.link(mapping.outputs["Vector"], env.inputs["Vector"])
    b.node("ShaderNodeTexSky", "sky_tex")
    b.rgb("ambient_colour", (0.35, 0.35, 0.38, 1.0))
    bg = b.node("ShaderNodeBackground", "world_bg")
    bg.inputs["Strength"].default_value = 0.3
    b.link(b.nodes["ambient_colour"].outputs[0], bg.inputs["Color"])
    out = b.node("ShaderNodeOutputWorld")
    b.link(bg.outputs[0], out.inputs["Surface"])
    return world


def set_world_source(world, source: str) -> None:
    """Link 'hdri' (env_tex), 'sky' (sky_tex) or 'ambient' into the world background colour."""
    tree = world.node_tree
    sock = {"hdri": tree.nodes["env_tex"].outputs["Color"], "sky": tree.nodes["sky_tex"].outputs["Color"],
            "ambient": tree.nodes["ambient_colour"].outputs[0]}[source]
    target = tree.nodes["world_bg"].inputs["Color"]
    if not any(link.from_socket == sock for link in target.links):
        tree.links.new(sock, target)


def build_materials(assets_dir: str | None = None) -> dict:
    lips = os.path.join(assets_dir, "materials", "lips_mask.jpg") if assets_dir else None
    return {
        "skin": build_skin(lips),
        "eye": build_eye(),
        "lashes": build_lashes(),
        "mouth": build_mouth(),
        "glasses_frame": build_glasses_frame(),
        "glasses_lens": build_glasses_lens(),
        "backdrop": build_backdrop(),
        "world": build_world(),
    }


def _set(tree, name: str, value) -> None:
    node = tree.nodes[name]
    if node.bl_idname in ("ShaderNodeRGB", "ShaderNodeValue"):
        node.outputs[0].default_value = value
    else:
        raise TypeError(f"{name} is not a value node")


def apply_brows(mats: dict, shape) -> None:
    """The shader side of a sampling.identity.BrowShape (where the brow lies is the scene's
    ``brow_st``/``brow_hair`` attributes, periocular.brow_attributes)."""
    _set(mats["skin"].node_tree, "brow_coarseness", float(shape.coarseness))


def apply_eye_detail(mats: dict, detail, age_years: float, seed: int) -> None:
    """A sampling.identity.EyeDetail: iris and sclera of the eye material, lid-margin colours and
    the periocular skin detail amounts (fine lines grow with age)."""
    eye = mats["eye"].node_tree
    _set(eye, "iris_inner_colour", rgba(detail.iris_inner_colour))
    for name in ("collarette_radius", "iris_fibre_contrast", "iris_crypts", "limbal_ring", "sclera_veins"):
        _set(eye, name, float(getattr(detail, name)))
    _set(eye, "sclera_colour", rgba(detail.sclera_colour))
    skin = mats["skin"].node_tree
    _set(skin, "caruncle_colour", rgba(detail.caruncle_colour))
    _set(skin, "tear_film", float(detail.tear_film))
    _set(skin, "skin_grain_amount", float(detail.skin_grain))
    _set(skin, "skin_freckles", float(detail.skin_freckles))
    _set(skin, "periorbital_darkening", float(detail.periorbital_darkening))
    _set(skin, "skin_wrinkles", float(np.clip((age_years - 30.0) / 35.0, 0.0, 1.0)) * float(detail.wrinkle_depth))
    rng = np.random.default_rng([int(seed) % 2 ** 32, 0xE7E5])  # per-identity pattern offsets
    for tree, names in ((eye, ("iris_collarette_offset", "iris_crypt_offset")),
                        (skin, ("skin_detail_offset", "brow_hairs_offset"))):
        for name in names:
            tree.nodes[name].inputs[1].default_value = tuple(float(v) for v in rng.uniform(-50.0, 50.0, 3))


def apply_hair(mats: dict, hair_colour, eye_x: float, eye_z: float) -> None:
    """Scalp-hair colour (linear RGB), and the eye centre the lash strands radiate from (head frame, metres)."""
    skin = mats["skin"].node_tree
    _set(skin, "hair_colour", rgba(hair_colour))
    lashes = mats["lashes"].node_tree
    _set(lashes, "lash_eye_x", abs(float(eye_x)))
    _set(lashes, "lash_eye_z", float(eye_z))


def apply_makeup(mats: dict, makeup) -> None:
    """Make-up colours (where it lies and how strong is the skin's ``makeup`` attribute)."""
    if makeup is None:
        return  # the attribute is all zero: the colours are not seen
    skin = mats["skin"].node_tree
    _set(skin, "liner_colour", rgba(makeup.liner_colour))
    _set(skin, "shadow_colour", rgba(makeup.shadow_colour))


def apply_identity(mats: dict, skin_tone: float, iris_colour, brow_colour, brow_density: float,
                   lash_colour, lash_density: float, redness: float, roughness: float, seed: int) -> None:
    """Per-identity material parameters: skin_tone a scalar in [0, 1] (SKIN_TONES), colours linear RGB."""
    skin = mats["skin"].node_tree
    tone = ramp(SKIN_TONES, skin_tone)
    _set(skin, "skin_tone", tone)
    red = (min(1.0, tone[0] * 1.1), tone[1] * (0.55 - 0.2 * redness), tone[2] * 0.55, 1.0)
    _set(skin, "skin_red", red)
    _set(skin, "brow_colour", rgba(brow_colour))
    _set(skin, "brow_density", float(brow_density))
    # Shift the noise fields per identity so two subjects do not share blotches.
    off = float(seed % 997) * 1.37
    for name in ("blotch", "red_noise", "pores"):
        n = skin.nodes[name]
        if "W" in n.inputs:
            n.noise_dimensions = "4D"
            n.inputs["W"].default_value = off
    eye = mats["eye"].node_tree
    _set(eye, "iris_colour", rgba(iris_colour))
    n = eye.nodes["iris_fibres"]
    if "W" in n.inputs:
        n.noise_dimensions = "4D"
        n.inputs["W"].default_value = off
    _set(skin, "skin_roughness", 0.25 + 0.2 * float(roughness))  # oily 0.25 .. matte 0.45
    # Workbench ignores node trees: its "material" colour is the viewport colour.
    mats["skin"].diffuse_color = tone
    mats["eye"].diffuse_color = (0.75, 0.72, 0.68, 1.0)
    mats["lashes"].diffuse_color = (0.02, 0.015, 0.01, 1.0)
    lashes = mats["lashes"].node_tree
    lc = rgba(lash_colour)
    _set(lashes, "lash_colour", (lc[0] * 0.5, lc[1] * 0.5, lc[2] * 0.5, 1.0))  # lashes read darker than brows
    _set(lashes, "lash_threshold", 0.3 + 0.4 * (1.0 - float(np.clip(lash_density, 0, 1))))
