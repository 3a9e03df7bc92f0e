"""The face model: MakeHuman hm08 head with identity targets and ARKit face units, in pure numpy.

Runs inside Blender's Python (stdlib + numpy, Python 3.10). Reads the compact asset written by
`generator/build_face_asset.py` (assets/face/face.npz + face.json).

Frame ("head frame"): metres, Z up, the face looks along -Y, the subject's left is +X, origin midway
between the two eyeball centres for every identity. The scene places this frame in the world.

    model = FaceModel.load()
    ident = model.identity_vertices({"gender": 1.0, "age": 0.5}, {"nose/nose-hump-decr|incr": 0.4})
    posed = model.pose_vertices(ident, {"eyeBlinkLeft": 1.0}, gaze_yaw=0.0, gaze_pitch=-10.0)
    model.aperture(posed, "left") / model.neutral_aperture(ident, "left")   # ~0: closed

Identity (macro) parameters follow MakeHuman's modifiers, all in [0, 1]: gender (0 female, 1 male),
age (0 = 1 year, 0.1875 = 11, 0.5 = 25, 1 = 90 years; see age_years_to_macro), muscle, weight,
height, proportions (0.5 = average; height scales the head too: 1.3x at height 1), and the ethnic mix
african/asian/caucasian (normalised to sum 1). Macros left out take MakeHuman's defaults (the
default human); sampling.Identity.macros() gives all of them.
Face details are MakeHuman target names, either a single target ("head/head-oval": w in [0, 1]) or
an opposite pair ("nose/nose-hump-decr|incr": v in [-1, 1], negative -> first target).

Blink calibration: the raw eyeBlink units do not close every identity's lids exactly (on the base
face the upper lid overshoots by 20% of the aperture), so pose_vertices replaces eyeBlink{Left,Right}
by `blink_field`: the unit recalibrated for this identity so that weight 1 brings the upper lid
margin onto the lower one across the opening and the mid-lid points exactly together. With
other units (squint, wide, look down) the blink closes the fraction `weight` of the gap they left.
Closure is linear in the weight.

Gaze: eyeLook* units move the eyeballs by a linear morph (which also shears them); here the eyeball
part of those units is replaced by a rigid rotation about the eyeball centre. Gaze angles and
eyeLook weights are two ways to say the same thing: the eye turns by gaze + the angle the units
imply, and the lids follow with the eyeLook weights of that total angle (linear, saturating at
LID_FOLLOW_MAX).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Dict, Mapping, Optional

import numpy as np

from manifests.schema import EYES, LANDMARKS

from .config import ETHNICITIES

LID_LANDMARKS = tuple(k for k in LANDMARKS if k != "pupil")  # landmarks that are mesh vertices (the pupil is computed)
DEFAULT_ASSET_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "face")

# MakeHuman macro variables: breakpoints in [0, 1] and the state whose target is fully on at each
# (macrodetails/macro.json "parts"; None = a state without a target, e.g. average height).
MACRO_BREAKPOINTS = {
    "gender": ([0.0, 1.0], ["female", "male"]),
    "age": ([0.0, 0.1875, 0.5, 1.0], ["baby", "child", "young", "old"]),
    "muscle": ([0.0, 0.5, 1.0], ["minmuscle", "averagemuscle", "maxmuscle"]),
    "weight": ([0.0, 0.5, 1.0], ["minweight", "averageweight", "maxweight"]),
    "height": ([0.0, 0.5, 1.0], ["minheight", None, "maxheight"]),
    "proportions": ([0.0, 0.5, 1.0], ["uncommonproportions", None, "idealproportions"]),
}
RACES = ETHNICITIES  # MakeHuman's ethnic-mix macros
MACROS = (*MACRO_BREAKPOINTS, *RACES)  # every macro an identity sets
MACRO_DEFAULTS = {"gender": 0.5, "age": 0.5, "muscle": 0.5, "weight": 0.5, "height": 0.5, "proportions": 0.5,
                  "african": 1 / 3, "asian": 1 / 3, "caucasian": 1 / 3}  # MakeHuman's default human
AGE_YEARS = ([1.0, 11.0, 25.0, 90.0], [0.0, 0.1875, 0.5, 1.0])  # MakeHuman's age slider scale

# eyeLook unit per eye and direction; yaw > 0 turns toward the subject's left (+X), pitch > 0 up.
LOOK_UNITS = {
    "left": {"yaw+": "eyeLookOutLeft", "yaw-": "eyeLookInLeft", "pitch+": "eyeLookUpLeft", "pitch-": "eyeLookDownLeft"},
    "right": {"yaw+": "eyeLookInRight", "yaw-": "eyeLookOutRight", "pitch+": "eyeLookUpRight", "pitch-": "eyeLookDownRight"},
}
BLINK_UNITS = {"left": "eyeBlinkLeft", "right": "eyeBlinkRight"}
# Lid follow is linear in the gaze angle up to this eyeLook weight, then saturates: a morph pushed far
# past its authored range deforms the lids (at 2.2, a 25 deg downward look, closure read 0.75).
LID_FOLLOW_MAX = 1.5


class FaceAssetError(ValueError):
    """The face asset is missing, corrupt, or a request names something it does not have."""


def age_years_to_macro(years: float) -> float:
    """Age in years -> MakeHuman's age value in [0, 1] (1 y -> 0, 11 -> 0.1875, 25 -> 0.5, 90 -> 1)."""
    return float(np.interp(years, *AGE_YEARS))


def macro_state_weights(name: str, value: float) -> Dict[str, float]:
    """MakeHuman's piecewise-linear weights of a macro variable's states (e.g. age 0.75 -> young .5, old .5)."""
    xs, states = MACRO_BREAKPOINTS[name]
    v = float(np.clip(value, 0.0, 1.0))
    k = int(np.clip(np.searchsorted(xs, v, side="right") - 1, 0, len(xs) - 2))
    t = (v - xs[k]) / (xs[k + 1] - xs[k])
    out = {}
    for state, w in ((states[k], 1.0 - t), (states[k + 1], t)):
        if state is not None and w > 0:
            out[state] = out.get(state, 0.0) + w
    return out


def rotation_yaw_pitch(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """3x3 rotation (head frame) turning the rest gaze -Y by yaw toward +X, then by pitch toward +Z."""
    y, p = np.radians(yaw_deg), np.radians(pitch_deg)
    rz = np.array([[np.cos(y), -np.sin(y), 0.0], [np.sin(y), np.cos(y), 0.0], [0.0, 0.0, 1.0]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(-p), -np.sin(-p)], [0.0, np.sin(-p), np.cos(-p)]])
    return rz @ rx


@dataclass
class _Targets:
    names: list
    dense: np.ndarray  # (K, V, 3) float64 deltas in metres

    def index(self, name: str, kind: str) -> int:
        try:
            return self._lookup[name]
        except KeyError:
            raise FaceAssetError(f"{kind} target {name!r} is not in the face asset "
                                 f"(it has {len(self.names)}: {', '.join(self.names[:8])}, ...)") from None

    def __post_init__(self):
        self._lookup = {n: i for i, n in enumerate(self.names)}


class FaceModel:
    """Mesh, identity targets, face units and eye landmarks of the face asset (see module doc)."""

    def __init__(self, arrays: Mapping[str, np.ndarray], meta: dict, path: str = "<memory>"):
        self.path = path
        self.meta = meta
        try:
            self.vertices = np.asarray(arrays["vertices"], np.float64)
            self.faces = np.asarray(arrays["faces"], np.int64)
            self.face_part = np.asarray(arrays["face_part"], np.int64)
            self.uv = np.asarray(arrays["uv"], np.float64)
            self.face_uv = np.asarray(arrays["face_uv"], np.int64)
            self.parts = list(meta["parts"])
            step = float(meta["delta_step_m"])
            V = len(self.vertices)
            sets = {}
            for kind in ("macro", "detail", "unit"):
                names = list(meta["targets"][kind])
                ptr, idx = arrays[kind + "_ptr"], arrays[kind + "_index"].astype(np.int64)
                delta, shift = arrays[kind + "_delta"].astype(np.float64) * step, arrays[kind + "_shift"]
                if len(ptr) != len(names) + 1 or ptr[-1] != len(idx) or len(delta) != len(idx):
                    raise FaceAssetError(f"{path}: {kind} targets: {len(names)} names but ptr/index/delta sizes "
                                         f"{len(ptr)}/{len(idx)}/{len(delta)} disagree")
                if len(idx) and idx.max() >= V:
                    raise FaceAssetError(f"{path}: {kind} targets index vertex {idx.max()} of {V}")
                dense = np.zeros((len(names), V, 3))
                k_of_row = np.repeat(np.arange(len(names)), np.diff(ptr))
                dense[k_of_row, idx] = delta + shift.astype(np.float64)[k_of_row]
                sets[kind] = _Targets(names, dense)
            self.landmark_index = {e: {k: int(meta["landmarks"][e][k]) for k in LID_LANDMARKS} for e in EYES}
            self.pupil_index = {e: np.asarray(meta["landmarks"][e]["pupil"], np.int64) for e in EYES}
            self.eyeball_index = {e: np.arange(*meta["landmarks"][e]["eyeball"]) for e in EYES}
            self.upper_margin = {e: np.asarray(meta["landmarks"][e]["upper_margin"], np.int64) for e in EYES}
            self.lower_margin = {e: np.asarray(meta["landmarks"][e]["lower_margin"], np.int64) for e in EYES}
            self.joint_index = {k: np.asarray(v, np.int64) for k, v in meta.get("joints", {}).items()}
        except FaceAssetError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise FaceAssetError(f"{path}: corrupt or incompatible face asset ({type(exc).__name__}: {exc})") from exc
        self.macro, self.detail, self.unit = sets["macro"], sets["detail"], sets["unit"]
        self.unit_names = list(self.unit.names)
        self._macro_parts = [n.split("/")[-1].split("-") for n in self.macro.names]
        self._split_look_units()
        self._base_eye_distance = float(np.linalg.norm(self.eye_centre(self.vertices, "left")
                                                        - self.eye_centre(self.vertices, "right")))

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(cls, path: Optional[str] = None) -> "FaceModel":
        """Load the asset from a directory holding face.npz + face.json (default: assets/face), or a .npz path."""
        path = os.path.abspath(path or DEFAULT_ASSET_DIR)
        npz_path = path if path.endswith(".npz") else os.path.join(path, "face.npz")
        json_path = npz_path[: -len(".npz")] + ".json"
        for p in (npz_path, json_path):
            if not os.path.isfile(p):
                raise FaceAssetError(f"face asset file not found: {p} (build it with "
                                     f"`python -m generator.build_face_asset`)")
        try:
            with open(json_path) as f:
                meta = json.load(f)
        except (OSError, ValueError) as exc:
            raise FaceAssetError(f"{json_path}: unreadable face asset metadata: {exc}") from exc
        try:
            with np.load(npz_path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError: all mean the same to a user
            raise FaceAssetError(f"{npz_path}: unreadable face asset arrays: {exc}") from exc
        return cls(arrays, meta, npz_path)

    def _split_look_units(self) -> None:
        """Remove the eyeballs' part of the eyeLook units; record the rotation (deg) each implies at weight 1."""
        self.look_deg = {}
        for eye in EYES:
            ball = self.eyeball_index[eye]
            rest_c = self.vertices[ball].mean(axis=0)
            rest_dir = self.vertices[self.pupil_index[eye]].mean(axis=0) - rest_c
            for key, unit in LOOK_UNITS[eye].items():
                k = self.unit.index(unit, "unit")
                moved = self.vertices + self.unit.dense[k]
                d = moved[self.pupil_index[eye]].mean(axis=0) - moved[ball].mean(axis=0)
                cos = np.dot(d, rest_dir) / (np.linalg.norm(d) * np.linalg.norm(rest_dir))
                self.look_deg[unit] = float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
                self.unit.dense[k][self.eyeball_index["left"]] = 0.0
                self.unit.dense[k][self.eyeball_index["right"]] = 0.0

    # ---------------------------------------------------------------- identity
    def macro_weights(self, macros: Optional[Mapping[str, float]] = None) -> np.ndarray:
        """Weight of every macrodetail target: the product of its variables' state weights (MakeHuman)."""
        macros = dict(macros or {})
        unknown = sorted(set(macros) - set(MACROS))
        if unknown:
            raise FaceAssetError(f"identity.{unknown[0]}: not a macro (macros: {', '.join(MACROS)})")
        state_w = {}
        for name in MACRO_BREAKPOINTS:
            value = float(macros.get(name, MACRO_DEFAULTS[name]))
            if not np.isfinite(value):
                raise FaceAssetError(f"identity.{name}: must be a finite number in [0, 1], got {value}")
            state_w.update(macro_state_weights(name, value))
        race = np.array([float(macros.get(r, MACRO_DEFAULTS[r])) for r in RACES])
        if np.any(race < 0) or not np.all(np.isfinite(race)):
            raise FaceAssetError(f"identity african/asian/caucasian: must be >= 0, got {race.tolist()}")
        race = race / race.sum() if race.sum() > 0 else np.full(3, 1 / 3)
        state_w.update(dict(zip(RACES, race)))
        state_w["universal"] = 1.0
        return np.array([float(np.prod([state_w.get(p, 0.0) for p in parts])) for parts in self._macro_parts])

    def detail_weights(self, details: Optional[Mapping[str, float]]) -> np.ndarray:
        """Detail slider values (target name or 'group/base-neg|pos' pair) -> weight per detail target."""
        w = np.zeros(len(self.detail.names))
        for key, value in (details or {}).items():
            value = float(value)
            if "|" in key:
                group_base, pos = key.split("|", 1)
                group, _, base_neg = group_base.rpartition("/")
                base, _, neg = base_neg.rpartition("-")
                if not base or not group:
                    raise FaceAssetError(f"identity detail {key!r}: expected 'group/name-neg|pos'")
                if not -1.0 <= value <= 1.0:
                    raise FaceAssetError(f"identity detail {key!r}: value must be in [-1, 1], got {value}")
                target = f"{group}/{base}-{neg}" if value < 0 else f"{group}/{base}-{pos}"
                w[self.detail.index(target, "detail")] += abs(value)
            else:
                if not 0.0 <= value <= 1.0:
                    raise FaceAssetError(f"identity detail {key!r}: value must be in [0, 1], got {value}")
                w[self.detail.index(key, "detail")] += value
        return w

    def identity_vertices(self, macros: Optional[Mapping[str, float]] = None,
                          details: Optional[Mapping[str, float]] = None) -> np.ndarray:
        """(V, 3) head-frame vertices of an identity (see module doc); no arguments: the default human."""
        verts = self.vertices.copy()
        verts += np.tensordot(self.macro_weights(macros), self.macro.dense, axes=1)
        verts += np.tensordot(self.detail_weights(details), self.detail.dense, axes=1)
        return verts - self.eye_midpoint(verts)

    # ---------------------------------------------------------------- expression
    def eye_gaze(self, units: Optional[Mapping[str, float]] = None, gaze_yaw: float = 0.0,
                 gaze_pitch: float = 0.0) -> Dict[str, tuple]:
        """Each eye's total (yaw, pitch) in degrees: the gaze angles plus what eyeLook units imply."""
        units = units or {}
        out = {}
        for eye, lu in LOOK_UNITS.items():
            yaw = gaze_yaw + units.get(lu["yaw+"], 0.0) * self.look_deg[lu["yaw+"]] \
                - units.get(lu["yaw-"], 0.0) * self.look_deg[lu["yaw-"]]
            pitch = gaze_pitch + units.get(lu["pitch+"], 0.0) * self.look_deg[lu["pitch+"]] \
                - units.get(lu["pitch-"], 0.0) * self.look_deg[lu["pitch-"]]
            out[eye] = (float(yaw), float(pitch))
        return out

    def eye_transform(self, gaze_yaw: float, gaze_pitch: float) -> np.ndarray:
        """Rotation (3x3, head frame) of an eyeball about its centre for a gaze (degrees)."""
        return rotation_yaw_pitch(gaze_yaw, gaze_pitch)

    def unit_vector(self, units: Mapping[str, float]) -> np.ndarray:
        w = np.zeros(len(self.unit_names))
        for name, value in units.items():
            value = float(value)
            if not np.isfinite(value):
                raise FaceAssetError(f"unit {name!r}: weight must be finite, got {value}")
            w[self.unit.index(name, "face unit")] += value
        return w

    def pose_vertices(self, identity_verts: np.ndarray, units: Optional[Mapping[str, float]] = None,
                      gaze_yaw: float = 0.0, gaze_pitch: float = 0.0) -> np.ndarray:
        """(V, 3) head-frame vertices with face-unit weights and gaze (degrees) applied (see module doc)."""
        units = dict(units or {})
        gaze = self.eye_gaze(units, gaze_yaw, gaze_pitch)
        for eye, (yaw, pitch) in gaze.items():  # lids follow the total gaze
            lu = LOOK_UNITS[eye]
            for key, angle in (("yaw+", yaw), ("yaw-", -yaw), ("pitch+", pitch), ("pitch-", -pitch)):
                units[lu[key]] = min(max(angle, 0.0) / self.look_deg[lu[key]], LID_FOLLOW_MAX)
        w = self.unit_vector(units)
        for eye in EYES:
            w[self.unit.index(BLINK_UNITS[eye], "face unit")] = 0.0
        verts = identity_verts + self.unit_scale(identity_verts) * np.tensordot(w, self.unit.dense, axes=1)
        for eye in EYES:  # calibrated blink, never past the lower lid
            blink = float(units.get(BLINK_UNITS[eye], 0.0))
            if blink:
                field = self._cached_blink_field(identity_verts, eye)
                verts = verts + self._blink_weight(verts, field, eye, blink) * field
        for eye, (yaw, pitch) in gaze.items():
            if yaw or pitch:
                ball = self.eyeball_index[eye]
                c = verts[ball].mean(axis=0)
                verts[ball] = (verts[ball] - c) @ rotation_yaw_pitch(yaw, pitch).T + c
        return verts

    def unit_scale(self, identity_verts: np.ndarray) -> float:
        """Size of this head relative to the base mesh the units were authored on (eyeball-centre
        distance ratio). Face units are morphs, not bones: on a head that age/height targets made 30%
        larger, unscaled units would leave the lids too short to cover the (larger) eyeballs."""
        d = np.linalg.norm(self.eye_centre(identity_verts, "left") - self.eye_centre(identity_verts, "right"))
        return float(d / self._base_eye_distance)

    def _cached_blink_field(self, identity_verts: np.ndarray, eye: str) -> np.ndarray:
        """blink_field of the last identities seen (a clip poses one identity for every frame)."""
        key = (eye, hash(np.ascontiguousarray(identity_verts).tobytes()))
        cache = self.__dict__.setdefault("_blink_cache", {})
        if key not in cache:
            if len(cache) >= 4:
                cache.pop(next(iter(cache)))
            cache[key] = self.blink_field(identity_verts, eye)
        return cache[key]

    def blink_field(self, identity_verts: np.ndarray, eye: str, bins: int = 10) -> np.ndarray:
        """(V, 3) displacement of a full blink of this identity: the eyeBlink unit recalibrated so
        that at weight 1 the lids meet along the whole opening, not only at the mid-lid points.

        The raw unit was authored on the base face: on other faces it overshoots (the upper lid
        passes the lower, by 20% of the aperture on the base face itself) or leaves part of the eye
        open (e.g. at the inner corner when eye-height targets reshape the lid). So: the unit is
        scaled by the mid-lid gain g_mid; every upper-margin vertex is then moved along the eye's up
        axis onto the top of the closed lower lid below it (the lower margin's highest vertex in each
        of `bins` columns along the corner line, interpolated), the upper lid's skin and lashes
        following their nearest margin vertices with a linear falloff; a last uniform factor on the
        upper lid's motion makes the mid-lid gap exactly 0. Used linearly in the weight, so closure
        is monotonic.
        """
        li = self.landmark_index[_eye(eye)]
        d = self.unit_scale(identity_verts) * self.unit.dense[self.unit.index(BLINK_UNITS[eye], "face unit")]
        g_mid = self._solve_weight(identity_verts, d, eye, 0.0, 0.0)
        up = self.eye_up(identity_verts, eye)
        inner, lat = identity_verts[li["inner"]], identity_verts[li["outer"]] - identity_verts[li["inner"]]
        col = lambda idx: (identity_verts[idx] - inner) @ lat / (lat @ lat)  # noqa: E731  0 inner .. 1 outer
        edges = np.linspace(0.0, 1.0, bins + 1)

        def envelope(idx, height, pick):
            """(s, index) of the vertex each column bin picks by height (pick = np.argmax / np.argmin)."""
            s, out_s, out_i = col(idx), [], []
            b = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, bins - 1)
            for k in range(bins):
                m = np.flatnonzero(b == k)
                if len(m):
                    j = m[pick(height[m])]
                    out_s.append(s[j])
                    out_i.append(idx[j])
            return np.array(out_s), np.array(out_i)

        lower, upper = self.lower_margin[eye], self.upper_margin[eye]
        field = g_mid * d
        closed = identity_verts + field
        s_low, i_low = envelope(lower, closed[lower] @ up, np.argmax)  # top of the closed lower lid
        # how far each upper-margin vertex still is from the lower lid below it (>0: open, <0: crossed)
        extra = closed[upper] @ up - np.interp(col(upper), s_low, closed[i_low] @ up)
        rows = np.flatnonzero(np.any(d != 0.0, axis=1))
        up_rows = rows[d[rows] @ up < 0.0]  # the upper lid (and its lashes) move down, the lower lid up
        # move each margin vertex by its residual; the lid skin above follows its nearest margin
        # vertices (inverse-distance weights) with a linear falloff over 40% of the eye width
        dist = np.linalg.norm(identity_verts[up_rows][:, None] - identity_verts[upper][None], axis=-1)
        near = np.argsort(dist, axis=1)[:, :3]
        dn = np.take_along_axis(dist, near, axis=1)
        wts = 1.0 / (dn + 1e-5) ** 2
        amount = (extra[near] * wts).sum(axis=1) / wts.sum(axis=1)
        falloff = np.clip(1.0 - dn[:, 0] / (0.4 * np.linalg.norm(lat)), 0.0, 1.0)
        correction = np.zeros_like(d)
        correction[up_rows] = -(amount * falloff)[:, None] * up
        field = field + correction
        # exact mid-lid closure: a last uniform touch on the upper lid's own motion
        upper_part = np.zeros_like(d)
        upper_part[up_rows] = d[up_rows]
        return field + self._solve_weight(identity_verts + field, upper_part, eye, 0.0, 0.0) * upper_part

    def _solve_weight(self, verts, field, eye, target_gap, start) -> float:
        """Multiplier w with aperture(verts + w * field) == target_gap (secant steps; nearly linear)."""
        w = start
        for _ in range(3):
            a0 = self.aperture(verts + w * field, eye)
            slope = self.aperture(verts + (w + 1.0) * field, eye) - a0
            if slope >= 0:
                raise FaceAssetError(f"{BLINK_UNITS[eye]} does not close the {eye} eye (slope {slope:.2e})")
            w += (target_gap - a0) / slope
        return float(w)

    def _blink_weight(self, verts, field, eye, weight) -> float:
        """Weight of the calibrated blink field given what other units did to the eye: the blink
        closes the fraction `weight` of the current mid-lid gap, so 1 shuts an eye that a squint
        narrowed (without crossing) or eyeWide opened (without leaving a gap)."""
        if weight <= 0 or self.aperture(verts, eye) <= 0:
            return 0.0 if weight > 0 else float(weight)
        return float(weight * self._solve_weight(verts, field, eye, 0.0, 1.0))

    # ---------------------------------------------------------------- measurement
    def eye_midpoint(self, verts: np.ndarray) -> np.ndarray:
        return 0.5 * (self.eye_centre(verts, "left") + self.eye_centre(verts, "right"))

    def eye_centre(self, verts: np.ndarray, eye: str) -> np.ndarray:
        return verts[self.eyeball_index[_eye(eye)]].mean(axis=0)

    def pupil(self, verts: np.ndarray, eye: str) -> np.ndarray:
        """Centre of the cornea cap (front pole of the eyeball); it turns with the gaze."""
        return verts[self.pupil_index[_eye(eye)]].mean(axis=0)

    def eye_forward(self, verts: np.ndarray, eye: str) -> np.ndarray:
        """Unit gaze direction of an eye (from eyeball centre through the pupil), in the frame of verts."""
        d = self.pupil(verts, eye) - self.eye_centre(verts, eye)
        return d / np.linalg.norm(d)

    def eye_up(self, verts: np.ndarray, eye: str) -> np.ndarray:
        """Unit vector pointing from the lower to the upper lid: perpendicular to the corner line and to
        the direction from the corners' midpoint to the eyeball centre (so it rotates with the head)."""
        li = self.landmark_index[_eye(eye)]
        lateral = verts[li["outer"]] - verts[li["inner"]]
        back = self.eye_centre(verts, eye) - 0.5 * (verts[li["outer"]] + verts[li["inner"]])
        up = np.cross(lateral, back) * (1.0 if eye == "left" else -1.0)  # left: +X x +Y = +Z
        return up / np.linalg.norm(up)

    def landmarks(self, verts: np.ndarray, eye: str) -> Dict[str, np.ndarray]:
        """3D landmark points of one eye: outer, inner, upper, lower (lid vertices), centre, pupil."""
        li = self.landmark_index[_eye(eye)]
        out = {k: verts[li[k]].copy() for k in LID_LANDMARKS}
        out["centre"] = self.eye_centre(verts, eye)
        out["pupil"] = self.pupil(verts, eye)
        return out

    def aperture(self, verts: np.ndarray, eye: str) -> float:
        """Mid-lid gap in metres: (upper - lower) mid-lid points along the eye's up axis; <0 if crossed.

        Projected on the lid-opening direction, so lids that touch read 0 even when the margins
        meet slightly in front of or beside each other.
        """
        li = self.landmark_index[_eye(eye)]
        return float(np.dot(verts[li["upper"]] - verts[li["lower"]], self.eye_up(verts, eye)))

    def neutral_aperture(self, identity_verts: np.ndarray, eye: str) -> float:
        """Aperture of the identity with no units and straight gaze: closure 0 for this subject."""
        return self.aperture(identity_verts, eye)

    def head_pivot(self, verts: np.ndarray) -> np.ndarray:
        """Pivot for head rotation: MakeHuman's neck joint (centre of its joint cube), moved by identity."""
        return verts[self.joint_index["joint-neck"]].mean(axis=0)

    def part_faces(self, part: str) -> np.ndarray:
        if part not in self.parts:
            raise FaceAssetError(f"part {part!r} not in the face asset (parts: {self.parts})")
        return self.faces[self.face_part == self.parts.index(part)]


def _eye(eye: str) -> str:
    if eye not in EYES:
        raise ValueError(f"eye must be 'left' or 'right' (the subject's own), got {eye!r}")
    return eye
