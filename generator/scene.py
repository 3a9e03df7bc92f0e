"""The Blender scene: a head built ONCE per process, re-posed and re-rendered per clip.

    scene = FaceScene(cfg)                        # mesh, eyes, lashes, materials, camera, lights, world
    rows = scene.render_clip(spec, frame_dir)     # frame_dir/0000.png ... + one label dict per frame
    scene.last_timings                            # per-frame seconds: update / render / write

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

from . import compat, materials

EYES = ("left", "right")
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
# trainer crop square (trainer.crops.CropConfig.scale x corner distance). The crops are all the
# trainer reads (its augmentation works on the cut crop), so no margin: 0.6 rendered ~7% more
# pixels (median of 8 eye_crops clips) for nothing.
EYE_REGION_MARGIN = 0.0
EYE_CROP_SCALE = 1.6


def _get(obj, name: str, default=None):
    """Field of a dataclass or key of a dict (specs arrive both ways: built, or rebuilt from rows)."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def kelvin_to_rgb(kelvin: float) -> tuple:
    """Linear RGB of a black body (Tanner Helland's fit of the CIE data, 1000-40000 K), max 1.

    Computed here rather than with a Blackbody node because Eevee/Workbench lights have no nodes.
    """
    t = float(np.clip(kelvin, 1000.0, 40000.0)) / 100.0
    r = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    g = 99.4708025861 * math.log(t) - 161.1195681661 if t <= 66 else 288.1221695283 * (t - 60) ** -0.0755148492
    b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307)
    srgb = np.clip(np.array([r, g, b]) / 255.0, 0.0, 1.0)
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    lin = lin / lin.max()
    return tuple(float(c) for c in lin)


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
        t0 = time.perf_counter()
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
        self._configure_render()
        self.last_timings: list[dict] = []  # per frame of the last clip: update/render/write seconds
        self.build_seconds = time.perf_counter() - t0
        self._identity_key = None
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
        for k in range(3):  # 1-3 lights per clip; unused ones are hidden
            data = bpy.data.lights.new(f"Light{k}", "AREA")
            obj = bpy.data.objects.new(f"Light{k}", data)
            self.scene.collection.objects.link(obj)
            self.lights.append(obj)
        plane = bpy.data.meshes.new("Backdrop")
        plane.from_pydata([(-1, 0, -1), (1, 0, -1), (1, 0, 1), (-1, 0, 1)], [], [(0, 1, 2, 3)])
        uv = plane.uv_layers.new(name="UVMap")
        uv.data.foreach_set("uv", [0, 0, 1, 0, 1, 1, 0, 1])
        plane.materials.append(self.mats["backdrop"])
        self.backdrop = bpy.data.objects.new("Backdrop", plane)
        self.scene.collection.objects.link(self.backdrop)
        compat.camera_only(self.backdrop, self.mats["backdrop"])
        self.scene.world = self.mats["world"]

    def _configure_render(self):
        rc = _get(self.cfg, "render")
        engine = str(_get(rc, "engine", "cycles")).lower()
        samples = int(_get(rc, "samples", 4))
        sc = self.scene
        if engine == "cycles":
            cost = compat.EYE_CROPS if _get(rc, "eye_region", False) else compat.FULL_LOOK
            self.render_info = compat.configure_cycles(sc, samples, seed=int(_get(self.cfg, "seed", 0)),
                                                       denoise=bool(_get(rc, "denoise", True)), cost=cost)
            self._apply_skin_cost(cost)
            # Worker k of a pool takes GPU k % count (the pool sets SYNBLINK_WORKER_INDEX).
            self.render_info.update(compat.select_device(sc, str(_get(rc, "device", "cpu")),
                                                         int(os.environ.get("SYNBLINK_WORKER_INDEX", "0") or 0)))
        elif engine == "eevee":
            self.render_info = compat.configure_eevee(sc, samples)
        elif engine == "workbench":
            self.render_info = compat.configure_workbench(sc)
        else:
            raise ValueError(f"render.engine: must be cycles, eevee or workbench; got {engine!r}")
        if self.render_info["engine"] == "CYCLES" and not self.render_info["denoise"]:
            compat.set_subsurface_method(self.mats["skin"].node_tree.nodes["skin_bsdf"], low_noise=True)
            if _get(rc, "denoise", True):
                print(f"synblink: Blender {bpy.app.version_string} has no OpenImageDenoise; rendering without "
                      f"a denoiser (raise render.samples for less noise)", file=sys.stderr)
        compat.set_view_transform(sc)
        sc.view_settings.look = "None"
        compat.set_png_output(sc)
        sc.render.resolution_percentage = 100
        sc.render.film_transparent = False
        sc.render.use_compositing = False
        sc.render.use_sequencer = False
        self.eye_region = bool(_get(rc, "eye_region", False))

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
    def set_identity(self, identity, subject_seed: int = 0):
        """Identity vertices, eyeball placement, lash binding and material parameters."""
        m = self.model
        iv = np.asarray(m.identity_vertices(identity), np.float64)
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
        # Lashes: the face units do not move the lash helpers, so each lash vertex follows its
        # nearest lid vertex (bound once per identity; a translation is all a blink needs).
        skin = np.unique(m.part_faces("skin"))
        self.lash_index = np.unique(np.concatenate([m.part_faces("eyelash_l").ravel(),
                                                    m.part_faces("eyelash_r").ravel()]))
        d = np.linalg.norm(iv[self.lash_index][:, None, :] - iv[skin][None, :, :], axis=2)
        self.lash_anchor = skin[np.argmin(d, axis=1)]
        # MakeHuman's lash cards are long; eyelash_length (~0.8-1.2) scales them about the lid.
        length = LASH_LENGTH * float(_get(identity, "eyelash_length", 1.0))
        self.lash_rest = (iv[self.lash_index] - iv[self.lash_anchor]) * length
        dist = np.linalg.norm(self.lash_rest, axis=1)
        root = np.zeros(self.n_verts, np.float32)
        root[self.lash_index] = 1.0 - dist / max(float(dist.max()), 1e-6)
        self.lash_root_attr.data.foreach_set("value", root)
        materials.apply_identity(
            self.mats, skin_tone=_get(identity, "skin_tone", 0.4),
            iris_colour=_get(identity, "iris_colour", 0.7),
            brow_colour=_get(identity, "eyebrow_colour", 0.8),
            brow_density=float(_get(identity, "eyebrow_density", 0.9)),
            lash_colour=_get(identity, "eyelash_colour", None),
            lash_density=float(_get(identity, "eyelash_density", 1.0)),
            redness=float(_get(identity, "skin_redness", 0.5)),
            roughness=float(_get(identity, "skin_roughness", 0.5)),
            seed=int(subject_seed))
        # Brows from both eyes' corners, mirrored to |x| and averaged; only points in front of
        # the corners (+ a quarter eye width) are painted, not the temples.
        li = {e: m.landmark_index[e] for e in EYES}
        inner = np.mean([iv[li[e]["inner"]] for e in EYES], axis=0)
        outer = np.mean([iv[li[e]["outer"]] for e in EYES], axis=0)
        inner[0] = np.mean([abs(iv[li[e]["inner"]][0]) for e in EYES])
        outer[0] = np.mean([abs(iv[li[e]["outer"]][0]) for e in EYES])
        front_y = max(float(inner[1]), float(outer[1])) + 0.25 * float(outer[0] - inner[0])
        materials.apply_brows(self.mats, inner, outer, front_y, thickness=float(_get(identity, "eyebrow_thickness", 1.0)),
                              arch=float(_get(identity, "eyebrow_arch", 1.0)))
        self.scalp_attr.data.foreach_set("value", scalp_mask(iv).astype(np.float32))
        materials.apply_hair(self.mats, _get(identity, "hair_colour", 0.8), eye_x=self.eye_centre["left"][0],
                             eye_z=self.eye_centre["left"][2])

    def set_camera(self, camera, resolution):
        w, h = int(resolution[0]), int(resolution[1])
        r = self.scene.render
        r.resolution_x, r.resolution_y = w, h
        cam = self.camera.data
        cam.lens = float(_get(camera, "focal_length_mm", 50.0))
        cam.sensor_width = float(_get(camera, "sensor_width_mm", 36.0))
        cam.clip_start, cam.clip_end = 0.02, 50.0
        self.cam_distance = float(_get(camera, "distance_m", 0.45))
        off = (_get(camera, "offset_x", 0.0), _get(camera, "offset_y", 0.0))
        # Offsets are fractions of the frame: shift the aim point so the face moves in the image.
        fov_w = self.cam_distance * cam.sensor_width / cam.lens
        self.cam_aim_offset = np.array([float(off[0]) * fov_w, 0.0, float(off[1]) * fov_w * h / w])
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
        lights = list(lights or [])[:len(self.lights)]
        if not lights:
            lights = [{"kind": "area", "power_w": 80.0, "azimuth_deg": 30.0, "elevation_deg": 30.0,
                       "distance_m": 1.2, "colour_temperature_k": 5500.0, "size_m": 0.5}]
        for k, obj in enumerate(self.lights):
            if k >= len(lights):
                obj.hide_render = True
                continue
            spec = lights[k]
            obj.hide_render = False
            kind = str(_get(spec, "kind", "area")).upper()
            if obj.data.type != kind:
                obj.data.type = kind
            data = obj.data
            rgb = _get(spec, "rgb", None)
            data.color = tuple(float(c) for c in rgb[:3]) if rgb is not None else \
                kelvin_to_rgb(float(_get(spec, "colour_temperature_k", 5500.0)))
            if kind == "SUN":
                data.energy = float(_get(spec, "strength", _get(spec, "power_w", 2.0)))
                data.angle = math.radians(2.0)
            else:
                data.energy = float(_get(spec, "power_w", 80.0))
            if kind == "AREA":
                data.shape = "DISK"
                data.size = float(_get(spec, "size_m", 0.4))
            elif kind == "POINT":
                data.shadow_soft_size = float(_get(spec, "size_m", 0.05))
            az = math.radians(float(_get(spec, "azimuth_deg", 0.0)))
            el = math.radians(float(_get(spec, "elevation_deg", 20.0)))
            dist = float(_get(spec, "distance_m", 1.2))
            # azimuth 0 = from the camera side (-Y); +90 = from the subject's left (+X)
            d = np.array([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)])
            target = self.eyes_mid
            obj.location = Vector(target + dist * d)
            obj.rotation_euler = Vector(-d).to_track_quat("-Z", "Y").to_euler()
        self._light_level = sum(self._irradiance(l) for l in lights)

    @staticmethod
    def _irradiance(light) -> float:
        """Rough irradiance (W/m^2) a light gives the face, for the auto exposure."""
        kind = str(_get(light, "kind", "area")).lower()
        cos_el = max(0.2, math.cos(math.radians(float(_get(light, "azimuth_deg", 0.0)))))
        if kind == "sun":
            return float(_get(light, "strength", 2.0)) * cos_el
        d = float(_get(light, "distance_m", 1.2))
        return float(_get(light, "power_w", 80.0)) / (4 * math.pi * d * d) * cos_el

    def set_exposure(self, world_strength: float) -> float:
        """Auto exposure, as a camera would: bright scenes are brought down to a normal level in
        full; dim scenes only half-way, so low-light clips stay dark (and noisy) as they should."""
        level = self._light_level + 1.5 * world_strength
        ev = math.log2(max(level, 1e-4) / EXPOSURE_REFERENCE)
        # The pupil follows the light: ~3 mm across in bright light, up to ~7 mm in the dark
        # (radius as a fraction of the ~12.5 mm eyeball radius).
        pupil = float(np.clip(0.17 - 0.035 * ev, 0.11, 0.28))
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
        kind = str(_get(bg, "kind", "texture"))
        world = self.mats["world"]
        wt = world.node_tree
        strength = float(_get(bg, "world_strength", 0.4))
        self.backdrop.hide_render = kind in ("hdri", "sky")
        if kind == "hdri":
            wt.nodes["env_tex"].image = self._image(_get(bg, "path"))
            wt.nodes["env_map"].inputs["Rotation"].default_value = (0.0, 0.0, math.radians(float(_get(bg, "rotation_deg", 0.0))))
            materials.set_world_source(world, "hdri")
            strength = float(_get(bg, "strength", 1.0)) * strength
        elif kind == "sky":
            compat.setup_sky(wt.nodes["sky_tex"], elevation_deg=float(_get(bg, "sun_elevation_deg", 30.0)),
                             rotation_deg=float(_get(bg, "sun_rotation_deg", 0.0)),
                             air=float(_get(bg, "air_density", 1.0)), dust=float(_get(bg, "dust_density", 1.0)))
            materials.set_world_source(world, "sky")
            # The physical sky is in daylight units; this keeps it in the range of the lamps.
            strength = SKY_EXPOSURE * float(_get(bg, "strength", 0.5)) * strength
        elif kind in ("texture", "image"):
            materials.set_world_source(world, "ambient")
            behind = float(_get(bg, "distance_m", 0.8))
            self.backdrop.location = Vector((0.0, behind, 0.0))
            # big enough to fill the frame at any focal length / offset the sampler draws
            half = (behind + self.cam_distance) * self.camera.data.sensor_width / self.camera.data.lens
            self.backdrop.scale = (half, 1.0, half)
            bd = self.mats["backdrop"]
            bd.node_tree.nodes["bg_is_image"].outputs[0].default_value = 1.0 if kind == "image" else 0.0
            bd.node_tree.nodes["bg_emission"].inputs["Strength"].default_value = min(1.0, 0.3 + strength)
            if kind == "image":
                materials.set_backdrop_image(bd, self._image(_get(bg, "path")), bool(_get(bg, "flip", False)),
                                             float(_get(bg, "zoom", 1.0)), float(_get(bg, "pan_x", 0.0)),
                                             float(_get(bg, "pan_y", 0.0)))
            else:
                ca, cb = _get(bg, "colour_a", (0.2, 0.2, 0.25)), _get(bg, "colour_b", (0.55, 0.5, 0.45))
                bd.node_tree.nodes["bg_colour_a"].outputs[0].default_value = (*[float(c) for c in ca[:3]], 1.0)
                bd.node_tree.nodes["bg_colour_b"].outputs[0].default_value = (*[float(c) for c in cb[:3]], 1.0)
                materials.set_backdrop_texture(bd, str(_get(bg, "texture_kind", "noise")),
                                               float(_get(bg, "texture_scale", 6.0)), float(_get(bg, "detail", 2.0)),
                                               float(_get(bg, "distortion", 0.0)), int(_get(bg, "seed", 0)))
        else:
            raise ValueError(f"background.kind: must be texture, image, hdri or sky; got {kind!r}")
        compat.set_world_sampling(world, importance=kind in ("hdri", "sky"))
        wt.nodes["world_bg"].inputs["Strength"].default_value = strength
        self.set_exposure(strength)
        blur = float(_get(bg, "blur", 0.0))
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

    def _image(self, path):
        if not path:
            raise ValueError("background: kind needs a 'path' to an image/HDRI file")
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

    def camera_params(self) -> dict:
        """The current frame's Blender camera as annotate.Camera fields (annotate projects exactly
        as Blender renders: sensor fit, shift, pixel-corner origin)."""
        r = self.scene.render
        cam = self.camera.data
        return {"matrix_world": np.array(self.camera.matrix_world), "lens_mm": cam.lens,
                "width": r.resolution_x, "height": r.resolution_y, "sensor_width_mm": cam.sensor_width,
                "sensor_height_mm": cam.sensor_height, "sensor_fit": cam.sensor_fit,
                "shift_x": cam.shift_x, "shift_y": cam.shift_y}

    def set_eye_region_border(self, labels: dict):
        """Render only a box around both eyes' landmarks (+ a margin of the eye width, and at least
        the trainer's 48x48 crop square of each eye): the rest of the frame stays black, the image keeps its full size so the landmarks stay valid."""
        r = self.scene.render
        w, h = r.resolution_x, r.resolution_y
        pts = np.array([(labels[f"{e}_{k}_x"], labels[f"{e}_{k}_y"]) for e in EYES
                        for k in ("outer", "inner", "upper", "lower")], np.float64)
        width = max(math.hypot(labels[f"{e}_outer_x"] - labels[f"{e}_inner_x"],
                               labels[f"{e}_outer_y"] - labels[f"{e}_inner_y"]) for e in EYES)
        x0, y0 = pts.min(axis=0) - EYE_REGION_MARGIN * width
        x1, y1 = pts.max(axis=0) + EYE_REGION_MARGIN * width
        # ...and at least the trainer's crop square (trainer.crops: side EYE_CROP_SCALE x corner
        # distance, centred on the corners, rotated with them): with the lids closed the lid
        # points collapse and the landmark box alone left black rows in closed-eye crops.
        for e in EYES:
            o = np.array([labels[f"{e}_outer_x"], labels[f"{e}_outer_y"]])
            i = np.array([labels[f"{e}_inner_x"], labels[f"{e}_inner_y"]])
            d = i - o
            half = 0.5 * EYE_CROP_SCALE * (abs(d[0]) + abs(d[1])) + 1.0  # axis-aligned extent of the rotated square
            c = (o + i) / 2
            x0, y0 = min(x0, c[0] - half), min(y0, c[1] - half)
            x1, y1 = max(x1, c[0] + half), max(y1, c[1] + half)
        r.use_border = True
        r.use_crop_to_border = False
        r.border_min_x = float(np.clip(x0 / w, 0, 1))
        r.border_max_x = float(np.clip(x1 / w, 0, 1))
        r.border_min_y = float(np.clip(1 - y1 / h, 0, 1))  # Blender's border y is bottom-up
        r.border_max_y = float(np.clip(1 - y0 / h, 0, 1))

    def render_to(self, path: str) -> tuple:
        """Render the current frame and write PNG ``path`` (temp name + rename). Returns
        (render_seconds, write_seconds)."""
        t0 = time.perf_counter()
        bpy.ops.render.render(write_still=False)
        t1 = time.perf_counter()
        tmp = path + ".tmp.png"
        bpy.data.images["Render Result"].save_render(filepath=tmp, scene=self.scene)
        os.replace(tmp, path)
        return t1 - t0, time.perf_counter() - t1

    def frame_labels(self, verts: np.ndarray, fs) -> dict:
        """Per-eye manifest columns of the frame just posed, from the posed vertices (moved into
        the world by the head's own matrix) and the camera the frame renders with."""
        from . import annotate

        world = self.world_points(verts)
        return annotate.frame_labels(self.model, world, self.camera_params(), self.neutral_aperture,
                                     phase=_get(fs, "phase"), blink_id=_get(fs, "blink_id"))

    def render_clip(self, spec, frame_dir: str) -> list:
        """Render every frame of ``spec`` into ``frame_dir/<t:04d>.png``; one label dict per frame.

        Per-frame timings (pose+labels / render / PNG write) go to ``self.last_timings``."""
        os.makedirs(frame_dir, exist_ok=True)
        identity = _get(spec, "identity")
        key = repr(identity)
        if key != self._identity_key:  # consecutive clips of one subject skip the identity work
            self.set_identity(identity, subject_seed=int(_get(identity, "seed", 0) or 0))
            self._identity_key = key
        resolution = _get(spec, "resolution", None) or _get(_get(self.cfg, "clip"), "resolution", (350, 350))
        self.set_camera(_get(spec, "camera"), resolution)
        self.set_lights(_get(spec, "lights"))
        self.set_background(_get(spec, "background"))
        if self.render_info["engine"] == "CYCLES":
            # Fixed per clip: re-rendering a clip gives the same pixels; frames of a clip share
            # the noise pattern like a real sensor's fixed-pattern noise would not, but it keeps
            # label-only changes (one eye closing) visible as the only pixel change.
            self.scene.cycles.seed = int(_get(spec, "clip_index", 0) or 0) % 2 ** 31
        self.scene.render.use_border = False
        n_frames = int(_get(spec, "n_frames"))
        rows, timings = [], []
        for t in range(n_frames):
            t0 = time.perf_counter()
            fs = spec.frame_state(t)
            head = (_get(fs, "head_yaw", 0.0), _get(fs, "head_pitch", 0.0), _get(fs, "head_roll", 0.0))
            gaze = (_get(fs, "gaze_yaw", 0.0), _get(fs, "gaze_pitch", 0.0))
            shake = tuple(_get(fs, "camera_shake", None) or (0.0, 0.0, 0.0))
            verts = self.set_frame(_get(fs, "units", {}), head, gaze, shake)
            labels = self.frame_labels(verts, fs)
            if self.eye_region:
                self.set_eye_region_border(labels)
            t1 = time.perf_counter()
            t_render, t_write = self.render_to(os.path.join(frame_dir, f"{t:04d}.png"))
            row = {"frame": t, "width": self.scene.render.resolution_x, "height": self.scene.render.resolution_y,
                   "head_yaw": float(head[0]), "head_pitch": float(head[1]), "head_roll": float(head[2]),
                   "gaze_yaw": float(gaze[0]), "gaze_pitch": float(gaze[1])}
            row.update(labels)
            rows.append(row)
            timings.append({"frame": t, "update_s": t1 - t0, "render_s": t_render, "write_s": t_write})
        self.last_timings = timings
        return rows
