"""Per-vertex coordinates and masks of the skin round the eyes, computed once per identity in numpy
and written as mesh attributes (``generator.scene``), so the skin shader (``materials``) only adds
what varies within a pixel: the brow's hair streaks and the fine lines.

Everything smooth over a few millimetres (where the brow lies, how far across it a point is, the
periorbital ring, the wrinkle masks) is a function of the identity's rest vertices; Cycles
interpolates vertex attributes linearly over each triangle, which is exact for the linear ones
(the brow's across-coordinate at a fixed place along it, the hair-aligned coordinates) and a
close piecewise-linear fit for the rest. Evaluating the same geometry per shading point took
~110 more shader math nodes and ~+25% CPU per eye-crop clip.

Head frame, metres: Z up, the face looks along -Y, |x| mirrors the two sides.
"""
from __future__ import annotations

import math

import numpy as np

BROW_HAIR_SCALE = (1400.0, 110.0)  # (across, along) hair streaks per metre: clumps ~0.7 mm apart, ~9 mm long
BROW_HALF_THICKNESS = 0.24  # at the head, in eye widths x thickness: real brows are ~0.4-0.5 W thick
HEAD_HAIR_ANGLE_DEG = 75.0  # hairs at the brow's head stand near upright
PERIORBITAL_RX, PERIORBITAL_RZ = 0.022, 0.013  # ring half-axes round the eye centre (below: +4 mm)
CROW_LINES_PER_RAD = 34.0  # crow's feet radiate from the outer corner ~every 1.7 degrees


def smooth01(v, lo: float, hi: float) -> np.ndarray:
    """Clamped linear ramp: 0 at ``lo`` .. 1 at ``hi`` (lo > hi ramps down); as materials._smooth01."""
    return np.clip((np.asarray(v, np.float64) - lo) / (hi - lo), 0.0, 1.0)


def brow_attributes(verts: np.ndarray, inner, outer, front_y: float, thickness: float, arch: float, shape):
    """(brow_st [V, 3], brow_hair [V, 3]) for the rest vertices ``verts``.

    ``inner``/``outer``: one eye's corners (|x| used); ``shape`` a sampling.identity.BrowShape.
    brow_st = (weight, t, 0): weight 0..1 is where a brow may be (along its length, sparser at the
    head, only in front of ``front_y``), t the signed distance from its centreline in half
    thicknesses (|t| < 1 inside). brow_hair = the point in hair-aligned coordinates (across, along
    the local hair direction) scaled by BROW_HAIR_SCALE, for the shader's streak noise."""
    v = np.asarray(verts, np.float64)
    ax, y, z = np.abs(v[:, 0]), v[:, 1], v[:, 2]
    xi, xo = abs(float(inner[0])), abs(float(outer[0]))
    zi, zo = float(inner[2]), float(outer[2])
    width = xo - xi  # W: proportions below are in eye widths
    head_x = xi + width * shape.inner_gap
    sv = (ax - head_x) / (width * shape.length)  # 0 head .. 1 tail
    s01 = np.clip(sv, 0.0, 1.0)
    corner_z = zi + (ax - xi) / width * (zo - zi)  # the corner line, continued
    peak = shape.peak
    rise = np.sin(0.5 * math.pi * np.minimum(s01 / peak, 1.0))
    fall = (np.maximum(s01 - peak, 0.0) / (1.0 - peak)) ** 2
    centre = corner_z + width * (shape.height + rise * arch * 0.14 - fall * shape.tail_drop)
    half = width * thickness * BROW_HALF_THICKNESS * (1.0 - s01 * (1.0 - shape.taper))  # thick head, tapering tail
    t = (z - centre) / np.maximum(half, 1e-4)
    ends = smooth01(sv, -0.06, 0.04) * smooth01(sv, 1.05, 0.9)
    head_sparse = 0.65 + 0.35 * smooth01(sv, 0.0, 0.18)
    weight = ends * head_sparse * (y < front_y)
    body = math.radians(shape.hair_angle_deg)
    angle = body + smooth01(sv, 0.25, 0.0) * (math.radians(HEAD_HAIR_ANGLE_DEG) - body)
    ca, sa = np.cos(angle), np.sin(angle)
    across = (z * ca - ax * sa) * BROW_HAIR_SCALE[0]
    along = (ax * ca + z * sa) * BROW_HAIR_SCALE[1]
    zero = np.zeros_like(t)
    return np.stack([weight, t, zero], axis=1), np.stack([across, along, zero], axis=1)


def periocular_attributes(verts: np.ndarray, eye_x: float, eye_z: float, caruncle: np.ndarray, tear_line: np.ndarray):
    """(eye_masks [V, 3], eye_lines [V, 3]) for the rest vertices round the eye centre (|eye_x|, eye_z).

    eye_masks = (caruncle, tear_line, periorbital ring weight); eye_lines = (crow's-feet phase in
    radians x CROW_LINES_PER_RAD, crow's-feet mask, under-eye-lines mask)."""
    v = np.asarray(verts, np.float64)
    ax = np.abs(v[:, 0]) - abs(float(eye_x))
    dz = v[:, 2] - float(eye_z)
    dx = ax / PERIORBITAL_RX
    dzn = dz / (PERIORBITAL_RZ + 0.004 * (dz < 0.0))  # the dark circle reaches further below
    rr = np.hypot(dx, dzn)
    ring = smooth01(rr, 0.55, 0.95) * smooth01(rr, 1.7, 1.0)
    crow_phase = np.arctan2(dz, ax) * CROW_LINES_PER_RAD
    crow_mask = smooth01(ax, 0.015, 0.024) * smooth01(ax, 0.04, 0.03)
    under_mask = smooth01(dz, -0.006, -0.011) * smooth01(dz, -0.024, -0.016) * smooth01(np.abs(dx), 0.9, 0.4)
    masks = np.stack([np.asarray(caruncle, np.float64), np.asarray(tear_line, np.float64), ring], axis=1)
    return masks, np.stack([crow_phase, crow_mask, under_mask], axis=1)


LINER_FADE_M = 0.0005  # the liner's edge softens over half a millimetre (a pencil line, not a decal)
LOWER_LINER_M = 0.0008  # lower-lid liner width at full strength


def makeup_attributes(verts: np.ndarray, upper: dict, lower: dict, eye_width: float, makeup) -> np.ndarray:
    """makeup [V, 3] = (eyeliner weight, eyeshadow weight, 0) for the rest vertices ``verts``.

    ``upper``/``lower``: per eye, the rest positions [N, 3] of the upper/lower lid-margin vertices
    (the lash lines); ``makeup`` a sampling.identity.Makeup or None (all zero). The weights are
    functions of the rest skin, so the make-up moves with the lids as they close: a closed eye
    shows the liner along the meeting lash lines and the shadow over the lid. (The skin folding in
    behind the margins gets paint too; the eyeball hides it.)"""
    v = np.asarray(verts, np.float64)
    out = np.zeros((len(v), 3))
    if makeup is None:
        return out
    for eye in upper:
        up, lo = np.asarray(upper[eye], np.float64), np.asarray(lower[eye], np.float64)
        x0, x1 = min(up[:, 0].min(), lo[:, 0].min()), max(up[:, 0].max(), lo[:, 0].max())
        pad = 0.6 * eye_width
        near = np.nonzero((v[:, 0] > x0 - pad) & (v[:, 0] < x1 + pad)
                          & (np.abs(v[:, 2] - up[:, 2].mean()) < 1.2 * eye_width))[0]
        p = v[near]
        for margin, sign, width in ((up, 1.0, makeup.liner_width_m), (lo, -1.0, LOWER_LINER_M * makeup.liner_lower)):
            d = np.linalg.norm(p[:, None, :] - margin[None, :, :], axis=2)
            j = np.argmin(d, axis=1)
            nearest = margin[j]
            dist = d[np.arange(len(p)), j]
            side = smooth01(sign * (p[:, 2] - nearest[:, 2]), -0.0002, 0.0003)  # above the upper / below the lower line
            if width > 0.0:
                strength = 1.0 if sign > 0 else min(1.0, makeup.liner_lower)
                liner = strength * smooth01(dist, width + LINER_FADE_M, width) * side
                out[near, 0] = np.maximum(out[near, 0], liner)
            if sign > 0 and makeup.shadow_amount > 0.0:
                h = makeup.shadow_height * eye_width
                rise = p[:, 2] - nearest[:, 2]
                # over the lid from the lash line up, fading out over its top third and past the corners
                shadow = smooth01(rise, -0.0002, 0.0004) * smooth01(rise, h, 0.66 * h)
                shadow *= smooth01(p[:, 0], x0 - 0.35 * eye_width, x0 - 0.05 * eye_width) \
                    * smooth01(p[:, 0], x1 + 0.35 * eye_width, x1 + 0.05 * eye_width)
                out[near, 1] = np.maximum(out[near, 1], makeup.shadow_amount * shadow)
    return out
