"""The Blender scene: a head built ONCE per process, re-posed and re-rendered per clip.

    scene = FaceScene(cfg)                        # mesh, eyes, lashes, materials, camera, lights, world
    rows = scene.render_clip(spec, frame_dir)     # frame_dir/0000.png ... + one label dict per frame
    scene.last_timings                            # per-frame seconds: update / render / write

A clip is rendered from its ClipSpec alone (identity, camera, lights, background and render
settings are its typed fields, read by attribute), so a clips.csv row re-renders its clip. The
config gives only what holds for the whole dataset: the render settings the scene starts with,
and the eye-region border's crop scale (render.eye_region_crop_scale).

Per clip only parameters change (identity vertices and materials, camera, lights, background);
per frame only vertex positions (face units), the head rig's rotation (head pose about a neck
pivot), the eyeballs' rotation (gaze) and the camera shake. Labels are computed from the very
vertex array and camera matrices the frame was rendered with.

Frames (Blender world, metres): the face asset's frame, Z up, the face looks along -Y, the
subject's left eye at +X. Angles: yaw > 0 turns the face / eye toward the subject's left (+X),
pitch > 0 looks up, roll > 0 tilts the top of the head toward the subject's left.
Standard library, numpy and bpy only; Python 3.10 compatible.
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

import bpy
from mathutils import Euler, Matrix, Vector

from manifests import atomic, eye_crop
from manifests.schema import EYES

from . import annotate, compat, glasses, materials, periocular
from .sampling import CameraSpec, HdriBackground, Identity, ImageBackground, RenderSpec, SkyBackground, SunLight
# Eyeball geometry: rings x segments of our own sphere (the hm08 helper has 72 vertices, too
# coarse for a specular cornea); forward is local -Y, unit radius, scaled per identity.
EYE_RINGS, EYE_SEGMENTS = 24, 32
CORNEA_HALF_ANGLE = math.radians(32.0)  # cornea ~12 mm across on a ~25 mm eyeball
CORNEA_BULGE = 0.09  # cornea apex ~1 mm in front of the scleral sphere
PORE_MM, PORE_BUMP = 0.7, 0.12  # skin pore size and full bump strength (materials.build_skin)
HEAD_SUBDIVISION = 0  # render level of the head's subdivision modifier (1: smoother lids, slower)
LASH_LENGTH = 0.5  # the hm08 lash cards reach ~5 mm from the lid; real lashes read shorter at 48 px
EXPOSURE_REFERENCE = 4.0  # W/m^2 on the face that renders a mid-tone skin well (judged on renders)
SKY_EXPOSURE = 0.05  # physical sky radiance -> the lamps' range (judged on renders)
# Eye-region border: the landmark box plus this fraction of the eye width, and always each eye's
# largest trainer crop square (render.eye_region_crop_scale x corner distance). The crops are all the
# trainer reads (its augmentation works on the cut crop), so no margin: 0.6 rendered ~7% more
# pixels (median of 8 eye_crops clips) for nothing.
EYE_REGION_MARGIN = 0.0
CARUNCLE_M = 0.0025  # the caruncle: skin within ~2.5 mm of the inner eye corner


def unit_sphere_eye(rings: int = EYE_RINGS, segments: int = EYE_SEGMENTS):
    """Vertices (unit radius, forward -Y, cornea bulge) and quads/tris of an eyeball."""
    verts = [(0.0, -(1.0 + CORNEA_BULGE), 0.0)]  # front pole = cornea apex = the pupil landmark
    for i in range(1, rings):
        theta = math.pi * i / rings  # angle from the forward axis
        r = 1.0
        if theta < CORNEA_HALF_ANGLE:  # smooth dome over the iris
            r += CORNEA_BULGE * (1.0 - (theta / CORNEA_HALF_ANGLE) ** 2) ** 2
        for j in range(segments):
            phi = 2 * math.pi * j / segments
            verts.append((r * math.sin(theta) * math.cos(phi), -r * math.cos(theta), r * math.sin(theta) * math.sin(phi)))
    verts.append((0.0, 1.0, 0.0))
    faces = []
    for j in range(segments):
        faces.append((0, 1 + (j + 1) % segments, 1 + j))
    for i in range(rings - 2):
        a, b = 1 + i * segments, 1 + (i + 1) * segments
        for j in range(segments):
            j2 = (j + 1) % segments
            faces.append((a + j, a + j2, b + j2, b + j))
    last = len(verts) - 1
    base = 1 + (rings - 2) * segments
    for j in range(segments):
        faces.append((base + j, base + (j + 1) % segments, last))
    return verts, faces


def scalp_mask(verts: np.ndarray) -> np.ndarray:
    """Per-vertex scalp-hair weight (the mesh is bald): 1 above a hairline ~7 cm over the eyes at
    the front, receding at the temples and dropping to the nape behind the ears (head frame)."""
    x, y, z = verts[:, 0], verts[:, 1], verts[:, 2]
    front = 0.068 - 1.1 * np.clip(np.abs(x) - 0.03, 0.0, None)  # temples recede
    back = -0.07
    t = np.clip((y - 0.03) / 0.06, 0.0, 1.0)  # 0 at the face, 1 behind the ears
    line = (1 - t) * front + t * back
    return np.clip((z - line) / 0.008 + 0.5, 0.0, 1.0)


class FaceScene:
    """One Blender scene holding one head; every clip of this process renders with it."""

    def __init__(self, cfg, face_model=None):
        self.cfg = cfg
        if face_model is None:
            from .face_model import FaceModel  # pure numpy; loads the committed asset
            face_model = FaceModel.load()
        self.model = face_model
        compat.reset_factory(empty=True)
        self.scene = bpy.context.scene
        self.assets_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets")
        self.mats = materials.build_materials(self.assets_dir)
        self._build_head()
        self._build_eyes()
        self._build_camera_lights_backdrop()
        self._build_glasses()
        self._configure_render(RenderSpec.from_config(cfg.render))
        self.last_timings: list[dict] = []  # per frame of the last clip: update/render/write seconds
        self._identity = None  # of the last clip
        self.iris_radius = 0.5  # on the unit eyeball; set_identity sizes it per subject
        self._image_cache: dict = {}

    # ------------------------------------------------------------------ build (once)
    def _build_head(self):
        m = self.model
        verts = np.asarray(m.vertices, np.float64)
        faces = np.asarray(m.faces)
        parts = list(m.parts)
        face_part = np.asarray(m.face_part)
        eye_ids = {parts.index("eye_l"), parts.index("eye_r")}
        keep = ~np.isin(face_part, list(eye_ids))  # the helper eyeballs are replaced by our own
        self.head_faces = faces[keep]
        mesh = bpy.data.meshes.new("Head")
        mesh.from_pydata(verts.tolist(), [], self.head_faces.tolist())
        uv_layer = mesh.uv_layers.new(name="UVMap")
        corner_uv = np.asarray(m.uv)[np.asarray(m.face_uv)[keep]].reshape(-1, 2)
        uv_layer.data.foreach_set("uv", corner_uv.astype(np.float32).ravel())
        slot_of_part = {"skin": 0, "eyelash_l": 1, "eyelash_r": 1, "teeth": 2, "tongue": 2}
        mat_index = np.array([slot_of_part.get(parts[p], 0) for p in face_part[keep]], np.int32)
        mesh.polygons.foreach_set("material_index", mat_index)
        compat.shade_smooth(mesh)
        self.scalp_attr = mesh.attributes.new("scalp", "FLOAT", "POINT")
        self.lash_root_attr = mesh.attributes.new("lash_root", "FLOAT", "POINT")
        # eye-region detail (set per identity by _set_eye_detail): the rest position the skin's
        # patterns stick to; brow, periocular and lid-margin coordinates and masks (generator.periocular)
        for name in ("skin_rest", "eye_masks", "eye_lines", "brow_st", "brow_hair", "makeup"):
            mesh.attributes.new(name, "FLOAT_VECTOR", "POINT")
        # adding an attribute invalidates Python references to the others: look them up again
        self.scalp_attr, self.lash_root_attr = mesh.attributes["scalp"], mesh.attributes["lash_root"]
        for key in ("skin", "lashes", "mouth"):
            mesh.materials.append(self.mats[key])
        self.head_mesh = mesh
        self.n_verts = len(verts)
        self.rig = bpy.data.objects.new("HeadRig", None)  # the neck pivot: head pose rotates it
        self.scene.collection.objects.link(self.rig)
        self.head = bpy.data.objects.new("Head", mesh)
        self.scene.collection.objects.link(self.head)
        self.head.parent = self.rig
        # Subdivision rounds the lid margins, but at 48 px eye crops level 1 is indistinguishable
        # from 0 and costs ~40% more render time (bench/render_speed.py): off unless raised here.
        sub = self.head.modifiers.new("Subdivision", "SUBSURF")
        sub.levels = 0
        sub.render_levels = HEAD_SUBDIVISION
        self._co = np.empty(self.n_verts * 3, np.float32)

    def _build_eyes(self):
        v, f = unit_sphere_eye()
        self.eyes = {}
        for eye in EYES:
            mesh = bpy.data.meshes.new(f"Eye.{eye}")
            mesh.from_pydata(v, [], f)
            compat.shade_smooth(mesh)
            mesh.materials.append(self.mats["eye"])
            obj = bpy.data.objects.new(f"Eye.{eye}", mesh)
            self.scene.collection.objects.link(obj)
            obj.parent = self.rig
            obj.rotation_mode = "XYZ"
            self.eyes[eye] = obj

    def _build_camera_lights_backdrop(self):
        cam_data = bpy.data.cameras.new("Camera")
        cam_data.sensor_fit = "HORIZONTAL"
        self.camera = bpy.data.objects.new("Camera", cam_data)
        self.scene.collection.objects.link(self.camera)
        self.scene.camera = self.camera
        self.lights = []
        for _ in range(3):  # the default 1-3 lights per clip; more are added when a clip has more
            self._add_light()
        plane = bpy.data.meshes.new("Backdrop")
        plane.from_pydata([(-1, 0, -1), (1, 0, -1), (1, 0, 1), (-1, 0, 1)], [], [(0, 1, 2, 3)])
        uv = plane.uv_layers.new(name="UVMap")
        uv.data.foreach_set("uv", [0, 0, 1, 0, 1, 1, 0, 1])
        plane.materials.append(self.mats["backdrop"])
        self.backdrop = bpy.data.objects.new("Backdrop", plane)
        self.scene.collection.objects.link(self.backdrop)
        compat.camera_only(self.backdrop, self.mats["backdrop"])
        self.scene.world = self.mats["world"]

    def _add_light(self):
        k = len(self.lights)
        obj = bpy.data.objects.new(f"Light{k}", bpy.data.lights.new(f"Light{k}", "AREA"))
        self.scene.collection.objects.link(obj)
        self.lights.append(obj)

    def _configure_render(self, render: RenderSpec):
        """Engine, samples and denoiser of ``render`` (set once per process; again only when a
        clip's render settings differ from the last clip's)."""
        sc = self.scene
        if render.engine == "cycles":
            cost = compat.EYE_CROPS if render.eye_region else compat.FULL_LOOK
            self.render_info = compat.configure_cycles(sc, render.samples, seed=int(self.cfg.seed),
                                                       denoise=render.denoise, cost=cost)
            self._apply_skin_cost(cost)
            # Worker k of a pool takes GPU k % count (the pool sets SYNBLINK_WORKER_INDEX).
            self.render_info.update(compat.select_device(sc, self.cfg.render.device,  # where, not what: not in the clip row
                                                         int(os.environ.get("SYNBLINK_WORKER_INDEX", "0") or 0)))
        elif render.engine == "eevee":
            self.render_info = compat.configure_eevee(sc, render.samples)
        elif render.engine == "workbench":
            self.render_info = compat.configure_workbench(sc)
        else:
            raise ValueError(f"render.engine: must be cycles, eevee or workbench; got {render.engine!r}")
        if self.render_info["engine"] == "CYCLES" and not self.render_info["denoise"]:
            compat.set_subsurface_method(self.mats["skin"].node_tree.nodes["skin_bsdf"], low_noise=True)
            if render.denoise:
                print(f"synblink: Blender {bpy.app.version_string} has no OpenImageDenoise; rendering without "
                      f"a denoiser (raise render.samples for less noise)", file=sys.stderr)
        compat.set_view_transform(sc)
        sc.view_settings.look = "None"
        compat.set_png_output(sc)
        sc.render.resolution_percentage = 100
        sc.render.film_transparent = False
        sc.render.use_compositing = False
        sc.render.use_sequencer = False
        self.render_spec = render

    def _apply_skin_cost(self, cost):
        """The skin knobs of a compat.CyclesCost: without subsurface; without the bump, the scalp hair
        or the lips: their links are cut, so Cycles compiles none of their patterns into the skin
        shader (the bump evaluated the pore and brow pattern three times per shading point)."""
        tree = self.mats["skin"].node_tree
        bsdf = tree.nodes["skin_bsdf"]
        if not cost.skin_subsurface:
            compat.principled_socket(bsdf, "Subsurface Weight").default_value = 0.0
        if not cost.skin_multiscatter:
            bsdf.distribution = "GGX"
        cut = [] if cost.skin_bump else [bsdf.inputs["Normal"]]
        mixes = [] if cost.skin_scalp_hair else [tree.nodes["scalp_mix"]]
        if not cost.skin_lips and "lips_mask" in tree.nodes:
            mixes += [link.to_node for link in tree.nodes["lips_mask"].outputs["Color"].links]
        for mix in mixes:
            mix.inputs[0].default_value = 0.0  # a constant 0 mix: Cycles folds it away with its pattern
            cut.append(mix.inputs[0])
        for socket in cut:
            for link in list(socket.links):
                tree.links.remove(link)

    # ------------------------------------------------------------------ per clip
    def set_identity(self, identity: Identity):
        """Identity vertices, eyeball placement, lash binding and material parameters."""
        m = self.model
        iv = np.asarray(m.identity_vertices(identity.macros(), identity.details), np.float64)
        self.id_verts = iv
        self.neutral_aperture = {e: m.neutral_aperture(iv, e) for e in EYES}
        self.pivot = np.asarray(m.head_pivot(iv), np.float64)
        self.rig.location = Vector(self.pivot)
        self.head.location = Vector(-self.pivot)  # mesh vertices stay in the head frame
        self.eye_centre, self.eye_radius, self.eye_rest = {}, {}, {}
        for eye in EYES:
            c = m.eye_centre(iv, eye)
            fwd = m.eye_forward(iv, eye)
            # Our cornea apex sits exactly on the model's pupil point, so the pupil label is the
            # apex of the rendered eye.
            self.eye_centre[eye] = c
            self.eye_radius[eye] = float(np.linalg.norm(m.pupil(iv, eye) - c)) / (1.0 + CORNEA_BULGE)
            self.eye_rest[eye] = np.array(Vector((0.0, -1.0, 0.0)).rotation_difference(Vector(fwd)).to_matrix())
        # corner distance, mean of both eyes: the unit the glasses and the iris are sized in
        li = m.landmark_index
        self.eye_width = float(np.mean([np.linalg.norm(iv[li[e]["outer"]] - iv[li[e]["inner"]]) for e in EYES]))
        # Lashes: the face units do not move the lash helpers, so each lash vertex follows its
        # nearest lid vertex (bound once per identity; a translation is all a blink needs).
        skin = np.unique(m.part_faces("skin"))
        self.lash_index = np.unique(np.concatenate([m.part_faces("eyelash_l").ravel(),
                                                    m.part_faces("eyelash_r").ravel()]))
        d = np.linalg.norm(iv[self.lash_index][:, None, :] - iv[skin][None, :, :], axis=2)
        self.lash_anchor = skin[np.argmin(d, axis=1)]
        # MakeHuman's lash cards are long; eyelash_length (~0.8-1.2) scales them about the lid.
        # (Mascara darkens and thickens them, below, but does not lengthen them: the cards only
        # translate with the closing lid, and longer upper lashes poked up over a closed lid.)
        mascara = identity.makeup.mascara if identity.makeup is not None else 0.0
        length = LASH_LENGTH * identity.eyelash_length
        self.lash_rest = (iv[self.lash_index] - iv[self.lash_anchor]) * length
        dist = np.linalg.norm(self.lash_rest, axis=1)
        root = np.zeros(self.n_verts, np.float32)
        root[self.lash_index] = 1.0 - dist / max(float(dist.max()), 1e-6)
        self.lash_root_attr.data.foreach_set("value", root)
        materials.apply_identity(
            self.mats, skin_tone=identity.skin_tone, iris_colour=identity.iris_colour,
            brow_colour=identity.eyebrow_colour, brow_density=identity.eyebrow_density,
            lash_colour=tuple(c * (1.0 - 0.8 * mascara) for c in identity.eyelash_colour),
            lash_density=min(1.0, identity.eyelash_density + 0.5 * mascara),
            redness=identity.skin_redness, roughness=identity.skin_roughness, seed=identity.subject_seed)
        # Brows from both eyes' corners, mirrored to |x| and averaged; only points in front of
        # the corners (+ a quarter eye width) are painted, not the temples.
        inner = np.mean([iv[li[e]["inner"]] for e in EYES], axis=0)
        outer = np.mean([iv[li[e]["outer"]] for e in EYES], axis=0)
        inner[0] = np.mean([abs(iv[li[e]["inner"]][0]) for e in EYES])
        outer[0] = np.mean([abs(iv[li[e]["outer"]][0]) for e in EYES])
        front_y = max(float(inner[1]), float(outer[1])) + 0.25 * float(outer[0] - inner[0])
        materials.apply_brows(self.mats, identity.brow_shape)
        self._set_eye_detail(identity, iv, inner, outer, front_y)
        self._set_glasses(identity, iv)
        self.scalp_attr.data.foreach_set("value", scalp_mask(iv).astype(np.float32))
        materials.apply_hair(self.mats, identity.hair_colour, eye_x=self.eye_centre["left"][0],
                             eye_z=self.eye_centre["left"][2])

    def _set_eye_detail(self, identity: Identity, iv: np.ndarray, inner, outer, front_y: float):
        """Per-identity eye-region detail: the skin's rest position, the brow's and the periocular
        skin's coordinates and masks (generator.periocular: brows from the mirrored corners
        ``inner``/``outer``, only in front of ``front_y``), the caruncle (skin within CARUNCLE_M of
        the inner corner) and tear-line (lower lid margin) masks, and the materials' values."""
        m = self.model
        attrs = self.head_mesh.attributes
        caruncle = np.zeros(self.n_verts)
        tear = np.zeros(self.n_verts)
        for e in EYES:
            d = np.linalg.norm(iv - iv[m.landmark_index[e]["inner"]], axis=1)
            caruncle = np.maximum(caruncle, np.clip(1.0 - d / CARUNCLE_M, 0.0, 1.0))
            tear[m.lower_margin[e]] = 1.0
        caruncle[self.lash_index] = 0.0
        c = self.eye_centre["left"]
        masks, lines = periocular.periocular_attributes(iv, c[0], c[2], caruncle, tear)
        brow_st, brow_hair = periocular.brow_attributes(iv, inner, outer, front_y, identity.eyebrow_thickness,
                                                        identity.eyebrow_arch, identity.brow_shape)
        makeup = periocular.makeup_attributes(iv, {e: iv[m.upper_margin[e]] for e in EYES},
                                              {e: iv[m.lower_margin[e]] for e in EYES}, self.eye_width, identity.makeup)
        makeup[self.lash_index] = 0.0
        for name, values in (("skin_rest", iv), ("eye_masks", masks), ("eye_lines", lines), ("brow_st", brow_st),
                             ("brow_hair", brow_hair), ("makeup", makeup)):
            attrs[name].data.foreach_set("vector", np.asarray(values, np.float32).ravel())
        materials.apply_eye_detail(self.mats, identity.eye_detail, age_years=identity.age_years,
                                   seed=identity.subject_seed)
        materials.apply_makeup(self.mats, identity.makeup)
        # The iris in eye widths (EyeDetail.iris_width_fraction), as a radius on the unit eyeball.
        self.iris_radius = float(identity.eye_detail.iris_width_fraction * self.eye_width
                                 / (2.0 * np.mean([self.eye_radius[e] for e in EYES])))
        self.mats["eye"].node_tree.nodes["iris_radius"].outputs[0].default_value = self.iris_radius

    def _build_glasses(self):
        """Frame and lens objects (meshes filled per identity by _set_glasses), on the head rig."""
        self.glasses = {}
        for key in ("frame", "lens"):
            mesh = bpy.data.meshes.new(f"Glasses.{key}")
            mesh.materials.append(self.mats[f"glasses_{key}"])
            obj = bpy.data.objects.new(f"Glasses.{key}", mesh)
            self.scene.collection.objects.link(obj)
            obj.parent = self.rig
            obj.hide_render = True
            self.glasses[key] = obj
        # glass lets light through: no shadow rays test the lens (faster, no dark lens shadow)
        if hasattr(self.glasses["lens"], "visible_shadow"):
            self.glasses["lens"].visible_shadow = False

    def _set_glasses(self, identity: Identity, iv: np.ndarray):
        """Build this identity's glasses round its eyes (none when identity.glasses is None)."""
        g = identity.glasses
        for obj in self.glasses.values():
            obj.location = Vector(-self.pivot)  # mesh vertices in the head frame, as the head's
        if g is None:
            return  # hidden by _show_glasses
        apex_y = min(float(self.model.pupil(iv, e)[1]) for e in EYES)
        skin = np.unique(self.model.part_faces("skin"))
        geo = glasses.glasses_geometry(g, self.eye_centre, self.eye_width, apex_y, iv[skin])
        for key, (v, f) in (("frame", (geo.frame_verts, geo.frame_faces)), ("lens", (geo.lens_verts, geo.lens_faces))):
            obj = self.glasses[key]
            old = obj.data
            mesh = bpy.data.meshes.new(f"Glasses.{key}")
            mesh.from_pydata(v.tolist(), [], [tuple(q) for q in f])
            compat.shade_smooth(mesh)
            mesh.materials.append(self.mats[f"glasses_{key}"])
            obj.data = mesh
            bpy.data.meshes.remove(old)
        materials.apply_glasses(self.mats, g)

    def _show_glasses(self, identity: Identity):
        """Per clip, after any render reconfiguration: show this identity's glasses, give Cycles one
        more transparent bounce for them (camera -> lens -> lashes -> eye would otherwise stop at
        the lashes, black, under generator.compat.EYE_CROPS's two), and leave the lens out of
        Workbench renders (Workbench draws every surface opaque: the lens would hide the eye)."""
        worn = identity.glasses is not None
        engine = self.render_info["engine"]
        self.glasses["frame"].hide_render = not worn
        self.glasses["lens"].hide_render = not worn or engine == "BLENDER_WORKBENCH"
        if engine == "CYCLES":
            cost = compat.EYE_CROPS if self.render_spec.eye_region else compat.FULL_LOOK  # as _configure_render
            self.scene.cycles.transparent_max_bounces = cost.transparent_bounces + (1 if worn else 0)

    def set_camera(self, camera: CameraSpec, resolution):
        w, h = int(resolution[0]), int(resolution[1])
        r = self.scene.render
        r.resolution_x, r.resolution_y = w, h
        cam = self.camera.data
        cam.lens = camera.focal_length_mm
        cam.sensor_width = camera.sensor_width_mm
        cam.clip_start, cam.clip_end = 0.02, 50.0
        self.cam_distance = camera.distance_m
        # Offsets are fractions of the frame: shift the aim point so the face moves in the image.
        fov_w = self.cam_distance * cam.sensor_width / cam.lens
        self.cam_aim_offset = np.array([camera.offset_x * fov_w, 0.0, camera.offset_y * fov_w * h / w])
        self.eyes_mid = np.zeros(3)  # the head frame's origin is midway between the eyeballs
        # Pores (~0.7 mm) smaller than a pixel only add sampling noise (grain that needs a
        # denoiser to hide): fade their bump out as they shrink below ~2 px.
        px_per_mm = cam.lens / cam.sensor_width * w / (self.cam_distance * 1000.0)
        pore_px = PORE_MM * px_per_mm
        bump = self.mats["skin"].node_tree.nodes["skin_bump"]
        bump.inputs["Strength"].default_value = PORE_BUMP * float(np.clip((pore_px - 0.5) / 1.5, 0.0, 1.0))

    def place_camera(self, shake=(0.0, 0.0, 0.0)):
        target = self.eyes_mid + self.cam_aim_offset
        loc = target + np.array([0.0, -self.cam_distance, 0.0]) + np.asarray(shake, np.float64)
        self.camera.location = Vector(loc)
        direction = Vector(target - loc)
        self.camera.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()

    def set_lights(self, lights):
        """Place and colour the clip's lights (LightSpecs); lamps the clip does not use are hidden."""
        while len(self.lights) < len(lights):
            self._add_light()
        for k, obj in enumerate(self.lights):
            if k >= len(lights):
                obj.hide_render = True
                continue
            spec = lights[k]
            obj.hide_render = False
            kind = spec.KIND.upper()
            if obj.data.type != kind:
                obj.data.type = kind
            data = obj.data
            data.color = tuple(float(c) for c in spec.rgb[:3])
            if isinstance(spec, SunLight):
                data.energy = spec.strength
                data.angle = math.radians(2.0)
            else:
                data.energy = spec.power_w
            if kind == "AREA":
                data.shape = "DISK"
                data.size = spec.size_m
            elif kind == "POINT":
                data.shadow_soft_size = spec.size_m
            az = math.radians(spec.azimuth_deg)
            el = math.radians(spec.elevation_deg)
            # azimuth 0 = from the camera side (-Y); +90 = from the subject's left (+X)
            d = np.array([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)])
            target = self.eyes_mid
            obj.location = Vector(target + spec.distance_m * d)
            obj.rotation_euler = Vector(-d).to_track_quat("-Z", "Y").to_euler()
        self._light_level = sum(self._irradiance(l) for l in lights)

    @staticmethod
    def _irradiance(light) -> float:
        """Rough irradiance (W/m^2) a light gives the face, for the auto exposure."""
        # (the cosine is of the azimuth, as the exposures were judged with; not of the elevation)
        cos_el = max(0.2, math.cos(math.radians(light.azimuth_deg)))
        if isinstance(light, SunLight):
            return light.strength * cos_el
        d = light.distance_m
        return light.power_w / (4 * math.pi * d * d) * cos_el

    def set_exposure(self, world_strength: float) -> float:
        """Auto exposure, as a camera would: bright scenes are brought down to a normal level in
        full; dim scenes only half-way, so low-light clips stay dark (and noisy) as they should."""
        level = self._light_level + 1.5 * world_strength
        ev = math.log2(max(level, 1e-4) / EXPOSURE_REFERENCE)
        # The pupil follows the light: ~3 mm across in bright light, up to ~7 mm in the dark
        # (a fraction 0.22-0.56 of the ~12 mm iris; set_identity sizes the iris).
        pupil = float(np.clip(0.34 - 0.07 * ev, 0.22, 0.56)) * self.iris_radius
        self.mats["eye"].node_tree.nodes["pupil_radius"].outputs[0].default_value = pupil
        exposure = float(np.clip(-ev if ev > 0 else -0.5 * ev, -6.0, 4.0))
        # Applied to the emitters, not to view_settings.exposure: Blender caches one
        # colour-management processor per distinct view exposure and never frees it (measured:
        # +3 MB RSS per clip). Scaling every emitter by 2**exposure gives the same linear image.
        # Called after set_lights and the world/backdrop strengths of this clip are set.
        gain = 2.0 ** exposure
        for obj in self.lights:
            if not obj.hide_render:
                obj.data.energy *= gain
        self.mats["world"].node_tree.nodes["world_bg"].inputs["Strength"].default_value *= gain
        if not self.backdrop.hide_render:
            self.mats["backdrop"].node_tree.nodes["bg_emission"].inputs["Strength"].default_value *= gain
        return exposure

    def set_background(self, bg):
        """texture | image: a plane behind the head (plus a flat ambient world); hdri: the
        environment map, rotated; sky: a physical sky. ``blur`` opens the aperture (focus stays
        on the eyes) so the background defocuses as with a shallow depth of field."""
        world = self.mats["world"]
        wt = world.node_tree
        strength = bg.world_strength
        self.backdrop.hide_render = isinstance(bg, (HdriBackground, SkyBackground))
        if isinstance(bg, HdriBackground):
            wt.nodes["env_tex"].image = self._image(bg.path)
            wt.nodes["env_map"].inputs["Rotation"].default_value = (0.0, 0.0, math.radians(bg.rotation_deg))
            materials.set_world_source(world, "hdri")
            strength = bg.strength * strength
        elif isinstance(bg, SkyBackground):
            compat.setup_sky(wt.nodes["sky_tex"], elevation_deg=bg.sun_elevation_deg, rotation_deg=bg.sun_rotation_deg,
                             air=bg.air_density, dust=bg.dust_density)
            materials.set_world_source(world, "sky")
            # The physical sky is in daylight units; this keeps it in the range of the lamps.
            strength = SKY_EXPOSURE * bg.strength * strength
        else:  # texture or image: a backdrop plane
            materials.set_world_source(world, "ambient")
            behind = bg.distance_m
            self.backdrop.location = Vector((0.0, behind, 0.0))
            # big enough to fill the frame at any focal length / offset the sampler draws
            half = (behind + self.cam_distance) * self.camera.data.sensor_width / self.camera.data.lens
            self.backdrop.scale = (half, 1.0, half)
            bd = self.mats["backdrop"]
            is_image = isinstance(bg, ImageBackground)
            bd.node_tree.nodes["bg_is_image"].outputs[0].default_value = 1.0 if is_image else 0.0
            bd.node_tree.nodes["bg_emission"].inputs["Strength"].default_value = min(1.0, 0.3 + strength)
            if is_image:
                materials.set_backdrop_image(bd, self._image(bg.path), bg.flip, bg.zoom, bg.pan_x, bg.pan_y)
            else:
                bd.node_tree.nodes["bg_colour_a"].outputs[0].default_value = (*bg.colour_a, 1.0)
                bd.node_tree.nodes["bg_colour_b"].outputs[0].default_value = (*bg.colour_b, 1.0)
                materials.set_backdrop_texture(bd, bg.texture_kind, bg.texture_scale, bg.detail, bg.distortion, bg.seed)
        compat.set_world_sampling(world, importance=isinstance(bg, (HdriBackground, SkyBackground)))
        wt.nodes["world_bg"].inputs["Strength"].default_value = strength
        self.set_exposure(strength)
        blur = bg.blur
        dof = self.camera.data.dof
        dof.use_dof = blur > 0.05 and self.render_info["engine"] != "BLENDER_WORKBENCH"
        dof.focus_distance = self.cam_distance
        # f-number that keeps the face (+-3 cm around the eyes) within 0.5*blur px of focus:
        # blur circle c = f^2 |s - d| / (N s (d - f)), in pixels of the sensor width.
        cam = self.camera.data
        f = cam.lens / 1000.0
        d = self.cam_distance
        px = self.scene.render.resolution_x / (cam.sensor_width / 1000.0)
        c_face = f * f * 0.03 / ((d - 0.03) * (d - f)) * px
        dof.aperture_fstop = float(max(1.2, c_face / max(0.5 * blur, 1e-3)))

    def _image(self, path: str):
        if path not in self._image_cache:
            # Keep a few images only: a long run over a big folder must not grow memory.
            if len(self._image_cache) >= 8:
                old_path, old = next(iter(self._image_cache.items()))
                del self._image_cache[old_path]
                bpy.data.images.remove(old)
            self._image_cache[path] = compat.load_image(path)
        return self._image_cache[path]

    # ------------------------------------------------------------------ per frame
    def set_frame(self, units: dict, head=(0.0, 0.0, 0.0), gaze=(0.0, 0.0), shake=(0.0, 0.0, 0.0)):
        """Pose the face (ARKit units), the head (yaw/pitch/roll, degrees, about the neck pivot),
        the eyes (gaze yaw/pitch, degrees) and the camera shake (metres: x right, y up, z toward
        the subject). Returns the posed head-frame vertices the frame is rendered with.

        eyeLook* units are dropped: the gaze angles say the same thing, and the face model turns
        the eyes by exactly the gaze and moves the lids to follow it (so the gaze label is the
        rendered eye's rotation)."""
        m = self.model
        units = {k: float(v) for k, v in (units or {}).items() if not k.startswith("eyeLook")}
        gy, gp = float(gaze[0]), float(gaze[1])
        verts = np.asarray(m.pose_vertices(self.id_verts, units, gaze_yaw=gy, gaze_pitch=gp), np.float64)
        verts[self.lash_index] = verts[self.lash_anchor] + self.lash_rest
        self._co[:] = verts.ravel()
        self.head_mesh.vertices.foreach_set("co", self._co)
        self.head_mesh.update()
        yaw, pitch, roll = (math.radians(float(a)) for a in head)
        # roll about the face axis (Y) first, then pitch about X (-: the face looks along -Y), then yaw about Z
        self.rig.rotation_mode = "YXZ"
        self.rig.rotation_euler = Euler((-pitch, roll, yaw), "YXZ")
        for eye, (eyaw, epitch) in m.eye_gaze(units, gy, gp).items():
            rot = np.asarray(m.eye_transform(eyaw, epitch)) @ self.eye_rest[eye]
            loc = Matrix.Translation(Vector(self.eye_centre[eye] - self.pivot))
            self.eyes[eye].matrix_basis = loc @ Matrix(rot.tolist()).to_4x4() @ Matrix.Scale(self.eye_radius[eye], 4)
        sx, sy, sz = (float(v) for v in shake)
        self.place_camera((sx, sz, sy))  # camera frame (right, up, forward) -> world (X, Z, Y)
        bpy.context.view_layer.update()
        return verts

    def world_points(self, verts: np.ndarray) -> np.ndarray:
        """Model-frame vertices -> world, through the head object's evaluated matrix."""
        mw = np.array(self.head.matrix_world)
        return verts @ mw[:3, :3].T + mw[:3, 3]

    def camera_params(self) -> annotate.Camera:
        """The current frame's Blender camera (annotate projects exactly as Blender renders:
        sensor fit, shift, pixel-corner origin)."""
        r = self.scene.render
        cam = self.camera.data
        return annotate.Camera(matrix_world=np.array(self.camera.matrix_world), lens_mm=cam.lens,
                               width=r.resolution_x, height=r.resolution_y, sensor_width_mm=cam.sensor_width,
                               sensor_height_mm=cam.sensor_height, sensor_fit=cam.sensor_fit,
                               shift_x=cam.shift_x, shift_y=cam.shift_y)

    def set_eye_region_border(self, labels: dict):
        """Render only a box around both eyes' landmarks (+ a margin of the eye width, and at least
        the largest crop square the trainer may take of each eye, render.eye_region_crop_scale):
        the rest of the frame stays black, the image keeps its full size so the landmarks stay valid."""
        r = self.scene.render
        w, h = r.resolution_x, r.resolution_y
        pts = np.array([(labels[f"{e}_{k}_x"], labels[f"{e}_{k}_y"]) for e in EYES
                        for k in ("outer", "inner", "upper", "lower")], np.float64)
        width = max(math.hypot(labels[f"{e}_outer_x"] - labels[f"{e}_inner_x"],
                               labels[f"{e}_outer_y"] - labels[f"{e}_inner_y"]) for e in EYES)
        x0, y0 = pts.min(axis=0) - EYE_REGION_MARGIN * width
        x1, y1 = pts.max(axis=0) + EYE_REGION_MARGIN * width
        # ...and at least the trainer's crop square (manifests.eye_crop): with the lids closed the
        # lid points collapse and the landmark box alone left black rows in closed-eye crops.
        for e in EYES:
            bx0, by0, bx1, by1 = eye_crop.crop_square_bounds(
                (labels[f"{e}_outer_x"], labels[f"{e}_outer_y"]), (labels[f"{e}_inner_x"], labels[f"{e}_inner_y"]),
                self.cfg.render.eye_region_crop_scale, pad_px=1.0)
            x0, y0 = min(x0, bx0), min(y0, by0)
            x1, y1 = max(x1, bx1), max(y1, by1)
        r.use_border = True
        r.use_crop_to_border = False
        r.border_min_x = float(np.clip(x0 / w, 0, 1))
        r.border_max_x = float(np.clip(x1 / w, 0, 1))
        r.border_min_y = float(np.clip(1 - y1 / h, 0, 1))  # Blender's border y is bottom-up
        r.border_max_y = float(np.clip(1 - y0 / h, 0, 1))

    def reset_render_state(self) -> None:
        """Forget what earlier clips left in the renderer, so a clip's pixels do not depend on what
        this process rendered before (a clip re-rendered alone gives the same frames).

        Cycles' persistent data (kept between frames for speed) does not re-sync every material,
        world and light change of a new clip: measured at 64x64, 2 samples, clip 2 rendered after
        clips 0 and 1 differed from clip 2 rendered alone by up to 176 levels. Turning it off frees
        the cached session (Blender's update callback); the clip's first frame syncs from scratch
        and its later frames reuse that data again."""
        render = self.scene.render
        if render.use_persistent_data:
            render.use_persistent_data = False
            render.use_persistent_data = True

    def render_frame_png(self, path: str) -> tuple:
        """Render the current frame and write PNG ``path`` atomically. Returns
        (render_seconds, write_seconds)."""
        t0 = time.perf_counter()
        bpy.ops.render.render(write_still=False)
        t1 = time.perf_counter()
        with atomic.atomic_path(path, suffix=".png") as tmp:  # Blender picks the format by the name
            bpy.data.images["Render Result"].save_render(filepath=tmp, scene=self.scene)
        return t1 - t0, time.perf_counter() - t1

    def frame_labels(self, verts: np.ndarray, fs) -> dict:
        """Per-eye manifest columns of the frame just posed, from the posed vertices (moved into
        the world by the head's own matrix) and the camera the frame renders with."""
        world = self.world_points(verts)
        return annotate.frame_labels(self.model, world, self.camera_params(), self.neutral_aperture,
                                     phase=fs.phase, blink_id=fs.blink_id)

    def render_clip(self, spec, frame_dir: str) -> list:
        """Render every frame of ``spec`` into ``frame_dir/<t:04d>.png``; one label dict per frame.

        Per-frame timings (pose+labels / render / PNG write) go to ``self.last_timings``."""
        os.makedirs(frame_dir, exist_ok=True)
        if spec.render != self.render_spec:  # a clip row carries its own render settings
            self._configure_render(spec.render)
        if spec.identity != self._identity:  # consecutive clips of one subject skip the identity work
            self.set_identity(spec.identity)
            self._identity = spec.identity
        self._show_glasses(spec.identity)
        self.reset_render_state()  # after any render reconfiguration: a clip's pixels never depend on earlier clips
        self.set_camera(spec.camera, spec.resolution)
        self.set_lights(spec.lights)
        self.set_background(spec.background)
        if self.render_info["engine"] == "CYCLES":
            # Fixed per clip: re-rendering a clip gives the same pixels; frames of a clip share
            # the noise pattern like a real sensor's fixed-pattern noise would not, but it keeps
            # label-only changes (one eye closing) visible as the only pixel change.
            self.scene.cycles.seed = spec.clip_index % 2 ** 31
        self.scene.render.use_border = False
        rows, timings = [], []
        for t in range(spec.n_frames):
            t0 = time.perf_counter()
            fs = spec.frame_state(t)
            head = (fs.head_yaw, fs.head_pitch, fs.head_roll)
            gaze = (fs.gaze_yaw, fs.gaze_pitch)
            verts = self.set_frame(fs.units, head, gaze, fs.camera_shake)
            labels = self.frame_labels(verts, fs)
            if self.render_spec.eye_region:
                self.set_eye_region_border(labels)
            t1 = time.perf_counter()
            t_render, t_write = self.render_frame_png(os.path.join(frame_dir, f"{t:04d}.png"))
            row = {"frame": t, "width": self.scene.render.resolution_x, "height": self.scene.render.resolution_y,
                   "head_yaw": float(head[0]), "head_pitch": float(head[1]), "head_roll": float(head[2]),
                   "gaze_yaw": float(gaze[0]), "gaze_pitch": float(gaze[1])}
            row.update(labels)
            rows.append(row)
            timings.append({"frame": t, "update_s": t1 - t0, "render_s": t_render, "write_s": t_write})
        self.last_timings = timings
        return rows
