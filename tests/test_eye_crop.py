"""The eye crop square the generator's eye-region border and the trainer's crops share."""
import json
import math

import pytest

from generator.config import GeneratorConfig
from manifests import eye_crop


def _dataset(tmp_path, render):
    cfg = GeneratorConfig().to_dict()
    cfg["render"].update(render)
    (tmp_path / "config.json").write_text(json.dumps({"config": cfg, "seed": 0, "versions": {}}))
    return tmp_path


def test_bounds_hold_the_rotated_square():
    outer, inner = (10.0, 20.0), (40.0, 30.0)
    x0, y0, x1, y1 = eye_crop.crop_square_bounds(outer, inner, 1.6)
    side = 1.6 * math.hypot(30.0, 10.0)
    angle = math.atan2(10.0, 30.0)
    cx, cy = 25.0, 25.0
    for sx, sy in ((-1, -1), (-1, 1), (1, -1), (1, 1)):  # the square's corners, rotated with the eye
        u, v = sx * side / 2, sy * side / 2
        x = cx + u * math.cos(angle) - v * math.sin(angle)
        y = cy + u * math.sin(angle) + v * math.cos(angle)
        assert x0 - 1e-9 <= x <= x1 + 1e-9 and y0 - 1e-9 <= y <= y1 + 1e-9


def test_trainer_default_crop_is_what_a_default_dataset_holds():
    from trainer.crops import CropConfig  # noqa: PLC0415  (cv2 only, no torch)

    assert CropConfig().scale == GeneratorConfig().render.eye_region_crop_scale == eye_crop.DEFAULT_CROP_SCALE


def test_a_larger_crop_than_the_border_holds_is_refused(tmp_path):
    root = _dataset(tmp_path, {"eye_region": True, "eye_region_crop_scale": 1.6})
    eye_crop.check_dataset_holds_crop(root, 1.6)
    with pytest.raises(ValueError, match=r"config.json: eye-region frames hold crops up to scale 1.6 .* crop scale is 2.8"):
        eye_crop.check_dataset_holds_crop(root, 2.8)
    wide = _dataset(tmp_path, {"eye_region": True, "eye_region_crop_scale": 2.8})
    eye_crop.check_dataset_holds_crop(wide, 2.8)


def test_full_frames_and_real_data_hold_any_crop(tmp_path):
    assert eye_crop.border_crop_scale(tmp_path) is None  # no config.json: real data
    full = _dataset(tmp_path, {"eye_region": False})
    eye_crop.check_dataset_holds_crop(full, 8.0)


def test_datasets_from_before_the_field_held_the_default(tmp_path):
    root = _dataset(tmp_path, {"eye_region": True})
    data = json.loads((root / "config.json").read_text())
    del data["config"]["render"]["eye_region_crop_scale"]
    (root / "config.json").write_text(json.dumps(data))
    assert eye_crop.border_crop_scale(root) == 1.6
