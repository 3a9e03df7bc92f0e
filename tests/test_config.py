"""GeneratorConfig, load_config and the shared argument parser."""
import json
import os
from pathlib import Path

import pytest

from generator.args import argv_after_dashdash, build_parser, config_from_args
from generator.config import ConfigError, GeneratorConfig, documented_defaults, load_config
from generator.sampling.environment import CameraSpec, expected_eye_width_px

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_valid_and_dict_round_trip():
    cfg = GeneratorConfig().validate()
    d = cfg.to_dict()
    again = GeneratorConfig.from_dict(json.loads(json.dumps(d)))
    assert again == cfg and again.to_dict() == d


def test_default_json_documents_every_field_and_matches_code():
    text = (ROOT / "configs" / "default.json").read_text()
    assert text == documented_defaults(), "regenerate: python -m generator.config > configs/default.json"
    data = json.loads(text)
    assert load_config(str(ROOT / "configs" / "default.json")) == GeneratorConfig()
    for section, fields in GeneratorConfig().to_dict().items():
        if isinstance(fields, dict):
            for name in fields:
                assert data[section].get("_" + name), f"configs/default.json: {section}.{name} has no reason"


def test_demo_config_is_small_and_eyes_are_wide_enough():
    cfg = load_config(str(ROOT / "configs" / "demo.json"))
    # small enough for minutes on 2 cores, large enough that train/val/test splits all get clips
    assert 8 <= cfg.n_clips <= 24 and cfg.clip.n_frames == 13
    w = cfg.clip.resolution[0]
    assert w * cfg.clip.resolution[1] <= 160 * 160
    cam = cfg.camera  # worst case: farthest and widest
    worst = CameraSpec(distance_m=cam.distance_m[1], focal_length_mm=cam.focal_length_mm[0],
                       sensor_width_mm=cam.sensor_width_mm, offset_x=0.0, offset_y=0.0)
    assert expected_eye_width_px(worst, w) >= 24


@pytest.mark.parametrize("overrides, field", [
    ({"blink.rate_per_min": -3}, "blink.rate_per_min"),
    ({"blink.closing_ms": [130, 75]}, "blink.closing_ms"),
    ({"blink.partial_probability": 1.5}, "blink.partial_probability"),
    ({"blink.closed_ms": [-10, 100]}, "blink.closed_ms"),
    ({"clip.fps": 0}, "clip.fps"),
    ({"clip.n_frames": "13"}, "clip.n_frames"),
    ({"clip.mode": "movie"}, "clip.mode"),
    ({"render.engine": "povray"}, "render.engine"),
    ({"render.denoise": "yes"}, "render.denoise"),
    ({"lighting.kind_weights": {"laser": 1.0}}, "lighting.kind_weights.laser"),
    ({"head.pitch_deg": [10, -10]}, "head.pitch_deg"),
    ({"blink.frobnicate": 1}, "blink.frobnicate"),
    ({"identity.age_years": [30, 20]}, "identity.age_years"),
    ({"background.kind_weights.image": 1.0}, "background.image_dir"),
    ({"background.kind_weights.hdri": 1.0, "background.hdri_dir": "/no/such/folder"}, "background.hdri_dir"),
])
def test_errors_name_the_dotted_field(overrides, field):
    with pytest.raises(ConfigError) as exc:
        load_config(None, overrides)
    assert exc.value.field == field
    assert str(exc.value).startswith(field + ":")


def test_user_folders_checked_before_rendering(tmp_path):
    empty = tmp_path / "bg"
    empty.mkdir()
    with pytest.raises(ConfigError, match="background.image_dir: no .*png"):
        load_config(None, {"background.kind_weights.image": 1.0, "background.image_dir": str(empty)})
    (empty / "a.JPG").write_bytes(b"x")
    cfg = load_config(None, {"background.kind_weights.image": 1.0, "background.image_dir": str(empty)})
    assert cfg.background.image_dir == str(empty)


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"clip": {"fps": 30,}}')
    with pytest.raises(ConfigError, match="bad.json: invalid JSON at line 1"):
        load_config(str(bad))
    with pytest.raises(ConfigError, match="file not found"):
        load_config(str(tmp_path / "missing.json"))
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"clip": {"fpps": 30}}')
    with pytest.raises(ConfigError) as exc:
        load_config(str(wrong))
    assert exc.value.field == "clip.fpps"


def test_file_then_overrides_and_weight_tables_replaced(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"clip": {"fps": 25}, "lighting": {"kind_weights": {"sun": 1.0}}}))
    cfg = load_config(str(f), {"clip.n_frames": 20})
    assert cfg.clip.fps == 25.0 and cfg.clip.n_frames == 20 and cfg.clip.resolution == [350, 350]
    assert cfg.lighting.kind_weights == {"sun": 1.0}  # the file's table replaces the default one


def test_yaml_when_available(tmp_path):
    pytest.importorskip("yaml")
    f = tmp_path / "c.yaml"
    f.write_text("clip:\n  fps: 24\nblink:\n  wink_probability: 0.1\n")
    cfg = load_config(str(f))
    assert cfg.clip.fps == 24.0 and cfg.blink.wink_probability == 0.1


# ---------------------------------------------------------------------------- args

def test_argv_after_dashdash():
    assert argv_after_dashdash(["blender", "-b", "--python", "r.py", "--", "--out", "x"]) == ["--out", "x"]
    assert argv_after_dashdash(["render.py", "--out", "x"]) == ["--out", "x"]


def test_flags_override_config_file_and_set_overrides_all(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"clip": {"fps": 25, "resolution": [64, 64]}, "render": {"samples": 4}}))
    argv = ["blender", "--background", "--python", "generator/render.py", "--",
            "--out", str(tmp_path / "d"), "--clips", "7", "--seed", "3", "--config", str(f),
            "--fps", "60", "--resolution", "96", "80", "--engine", "eevee", "--video", "--eye-region",
            "--shard", "1/4", "--workers", "2", "--set", "blink.wink_probability=0.25",
            "--set", "clip.resolution=[100,90]", "--set", "render.samples=9"]
    args = build_parser().parse_args(argv_after_dashdash(argv))
    cfg = config_from_args(args)
    assert (cfg.seed, cfg.n_clips, cfg.clip.fps) == (3, 7, 60.0)
    assert cfg.clip.resolution == [100, 90]  # --set beats --resolution
    assert cfg.render.samples == 9 and cfg.render.engine == "eevee"
    assert cfg.output.video and cfg.render.eye_region and cfg.blink.wink_probability == 0.25
    assert args.shard == (1, 4) and args.workers == 2 and args.out == str(tmp_path / "d")


def test_set_takes_several_pairs():
    args = build_parser().parse_args(["--out", "d", "--set", "clip.fps=25", "render.samples=3",
                                      "--set", "background.image_dir=null"])
    cfg = config_from_args(args)
    assert cfg.clip.fps == 25.0 and cfg.render.samples == 3 and cfg.background.image_dir is None


def test_flags_left_out_keep_config_values(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"seed": 5, "output": {"video": True}, "render": {"eye_region": True}}))
    cfg = config_from_args(build_parser().parse_args(["--out", "d", "--config", str(f)]))
    assert cfg.seed == 5 and cfg.output.video and cfg.render.eye_region


@pytest.mark.parametrize("argv", [["--out", "d", "--shard", "4/4"], ["--out", "d", "--shard", "x"],
                                  ["--out", "d", "--clips", "-1"], ["--out", "d", "--engine", "povray"],
                                  ["--out", "d", "--set", "novalue"], ["--clips", "3"]])
def test_bad_flags_exit_with_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2


def test_bad_set_value_names_field():
    args = build_parser().parse_args(["--out", "d", "--set", "blink.wink_probability=2"])
    with pytest.raises(ConfigError) as exc:
        config_from_args(args)
    assert exc.value.field == "blink.wink_probability"


# Issue 8: values that passed validation and then hung, overflowed or failed at scene build.
@pytest.mark.parametrize("overrides, field", [
    ({"clip.fps": float("inf")}, "clip.fps"),
    ({"clip.fps": 1e-9}, "clip.fps"),                      # hung in motion.sample_head
    ({"clip.fps": 1e9}, "clip.fps"),
    ({"seed": 99999999999999999999}, "seed"),               # failed at scene build (Cycles' int seed)
    ({"seed": 2 ** 31}, "seed"),
    ({"n_clips": 10 ** 30}, "n_clips"),                     # OverflowError
    ({"clip.resolution": [100000, 64]}, "clip.resolution"),
    ({"clip.n_frames": 10 ** 9}, "clip.n_frames"),
    ({"clip.n_frames": 90000, "clip.fps": 1.0}, "clip.n_frames"),  # a day-long clip
    ({"clip.subsamples": 10 ** 6}, "clip.subsamples"),
    ({"render.samples": 10 ** 9}, "render.samples"),
    ({"identity.n_subjects": 10 ** 6}, "identity.n_subjects"),
    ({"head.knot_interval_s": 1e-9}, "head.knot_interval_s"),
    ({"gaze.fixation_ms": 1e-9}, "gaze.fixation_ms"),
    ({"negatives.episode_gap_s": 1e-9}, "negatives.episode_gap_s"),
    ({"blink.rate_per_min": 1e12}, "blink.rate_per_min"),
    ({"camera.shake_mm": [0.0, float("nan")]}, "camera.shake_mm[1]"),
])
def test_every_numeric_field_is_bounded(overrides, field):
    with pytest.raises(ConfigError) as exc:
        load_config(None, overrides).validate()
    assert exc.value.field == field, str(exc.value)


def test_the_largest_allowed_values_are_accepted():
    from generator import config as c
    load_config(None, {"seed": c.MAX_SEED, "n_clips": c.MAX_CLIPS, "clip.fps": c.MAX_FPS,
                       "clip.resolution": [c.MAX_RESOLUTION, 8], "render.samples": c.MAX_SAMPLES}).validate()


@pytest.mark.parametrize("flag, value", [("--fps", "inf"), ("--fps", "nan"), ("--fps", "1e-9"),
                                         ("--seed", "99999999999999999999"), ("--clips", "1" + "0" * 30),
                                         ("--resolution", "100000"), ("--frames", "1000000000"),
                                         ("--samples", "1000000000"), ("--workers", "100000")])
def test_bad_flag_values_are_usage_errors_naming_the_flag(flag, value, capsys):
    argv = ["--out", "d", flag, value] + (["64"] if flag == "--resolution" else [])
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert flag in capsys.readouterr().err
