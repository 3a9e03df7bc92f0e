"""bench/gpu_check.py on machines without a GPU-capable Blender (the lead's GPU node runs
Python 3.12 with torch and no bpy): it reports SKIPPED in one line and exits 0, and its
OpenCV-only SSIM is scikit-image's."""
import importlib.util
import json
import os

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", os.path.join(REPO, "bench", "gpu_check.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_no_bpy_is_a_clean_skip(monkeypatch, tmp_path, capsys):
    mod = _gpu_check()
    monkeypatch.setattr(mod.importlib.util, "find_spec", lambda name: None)
    assert mod.main(["--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("gpu_check: render: SKIPPED: no GPU-capable Blender")
    assert json.loads((tmp_path / "r.json").read_text())["status"] == "skipped"


def test_ssim_matches_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    mod = _gpu_check()
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    for noise in (5, 40):
        b = np.clip(a.astype(int) + rng.integers(-noise, noise + 1, a.shape), 0, 255).astype(np.uint8)
        want = metrics.structural_similarity(a, b, channel_axis=-1, data_range=255)
        assert mod.ssim_rgb(a, b) == pytest.approx(want, abs=1e-6)
    assert mod.ssim_rgb(a, a) == pytest.approx(1.0)
