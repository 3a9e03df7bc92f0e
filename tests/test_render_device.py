"""Render device (--device / render.device) and the eye-region cost settings, on the CPU CI has:
auto falls back to the CPU and says so in one line, gpu without a GPU is refused before anything
is written, and an eye-region scene gets the cheaper settings that passed the eye-crop quality
gate (bench/render_quality.py) while a full-face scene keeps the full look."""
import dataclasses
import os
import subprocess
import sys

import pytest

from generator.args import build_parser, config_from_args
from generator.config import ConfigError, load_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_device_field_and_flag():
    assert load_config(None, {}).render.device == "cpu"
    with pytest.raises(ConfigError, match="render.device"):
        load_config(None, {"render.device": "tpu"}).validate()
    args = build_parser().parse_args(["--out", "x", "--device", "auto"])
    assert config_from_args(args).render.device == "auto"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--out", "x", "--device", "tpu"])


def test_cpu_and_auto_without_gpu_render_on_the_cpu(monkeypatch, capsys):
    bpy = pytest.importorskip("bpy")
    from generator import compat

    monkeypatch.setattr(compat, "gpu_devices", lambda: [])
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    assert compat.select_device(scene, "cpu") == {"device": "CPU", "gpu": None}
    assert capsys.readouterr().err == ""
    assert compat.select_device(scene, "auto") == {"device": "CPU", "gpu": None}
    assert scene.cycles.device == "CPU"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "render.device=auto" in err and "CPU" in err
    with pytest.raises(compat.DeviceError, match="render.device=gpu"):
        compat.select_device(scene, "gpu")
    with pytest.raises(ValueError, match="render.device"):
        compat.select_device(scene, "tpu")


def test_gpu_without_gpu_exits_2_before_writing(tmp_path):
    pytest.importorskip("bpy")
    from generator import compat

    if compat.gpu_devices():
        pytest.skip("this machine has a GPU Cycles can use")
    out = tmp_path / "ds"
    r = subprocess.run([sys.executable, "-m", "generator.render", "--out", str(out), "--clips", "1",
                        "--device", "gpu"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "generator.render" in ln]
    assert len(lines) == 1 and "render.device=gpu" in lines[0] and "Traceback" not in r.stderr
    assert not out.exists()


def _skin_state(face_scene):
    from generator import compat

    tree = face_scene.mats["skin"].node_tree
    bsdf = tree.nodes["skin_bsdf"]
    return {"sss": compat.principled_socket(bsdf, "Subsurface Weight").default_value,
            "bump": bool(bsdf.inputs["Normal"].links), "scalp": bool(tree.nodes["scalp_mix"].inputs[0].links),
            "lips": bool(tree.nodes["lips_mask"].outputs["Color"].links),
            "transparent": face_scene.scene.cycles.transparent_max_bounces, "specular": bsdf.distribution}


def test_eye_region_scene_gets_the_eye_crop_settings_and_full_face_keeps_the_look():
    pytest.importorskip("bpy")
    from generator import compat
    from generator.scene import FaceScene

    cfg = load_config(None, {"clip.resolution": [64, 64], "render.samples": 2})
    full = _skin_state(FaceScene(cfg))
    assert full == {"sss": pytest.approx(0.25), "bump": True, "scalp": True, "lips": True,
                    "transparent": compat.FULL_LOOK.transparent_bounces, "specular": "MULTI_GGX"}
    eye_cfg = dataclasses.replace(cfg, render=dataclasses.replace(cfg.render, eye_region=True))
    eye_scene = FaceScene(eye_cfg)
    eye = _skin_state(eye_scene)
    assert eye == {"sss": 0.0, "bump": False, "scalp": False, "lips": False, "transparent": compat.EYE_CROPS.transparent_bounces,
                   "specular": "GGX"}
    cyc = eye_scene.scene.cycles
    if compat.has_oidn():
        assert cyc.denoising_prefilter == compat.EYE_CROPS.denoise_prefilter
        assert cyc.denoising_input_passes == "RGB_ALBEDO_NORMAL"
