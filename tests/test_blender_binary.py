"""The second way in: the user's own Blender binary (Debian's blender 3.4.1 in CI).

Skipped when `blender` is not on PATH, unless SYNBLINK_REQUIRE_BLENDER=1 (then it fails).
"""
import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLENDER = shutil.which("blender")
TINY = ["--frames", "13", "--resolution", "64", "64", "--samples", "2", "--set", "render.denoise=false"]

pytestmark = [pytest.mark.blender, pytest.mark.slow]


@pytest.fixture
def blender():
    if BLENDER is None:
        if os.environ.get("SYNBLINK_REQUIRE_BLENDER") == "1":
            pytest.fail("SYNBLINK_REQUIRE_BLENDER=1 but no `blender` binary on PATH")
        pytest.skip("no `blender` binary on PATH")
    return BLENDER


def run_blender(blender, out, *args):
    cmd = [blender, "--background", "--factory-startup", "--python-exit-code", "1",
           "--python", os.path.join(REPO, "generator", "render.py"),
           "--", "--out", str(out), *TINY, *args]
    # Blender's Python must not pick up the venv's packages: it has its own numpy.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return subprocess.run(cmd, cwd=str(out.parent), capture_output=True, text=True, timeout=900, env=env)


def test_blender_binary_bad_config_exits_2(blender, tmp_path):
    r = run_blender(blender, tmp_path / "ds", "--clips", "1", "--set", "clip.fps=-1")
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    assert "clip.fps" in r.stderr


def test_blender_binary_renders_valid_dataset_with_two_workers(blender, tmp_path):
    out = tmp_path / "ds"
    r = run_blender(blender, out, "--clips", "2", "--seed", "5", "--workers", "2")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    v = subprocess.run([sys.executable, "-m", "manifests", "validate", str(out)], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert v.returncode == 0, v.stdout + v.stderr
    with open(out / "frames.csv", newline="") as f:
        frames = list(csv.DictReader(f))
    assert len(frames) == 26 and all(os.path.isfile(out / r["image"]) for r in frames)
    versions = json.loads((out / "config.json").read_text())["versions"]
    assert not versions["blender"].startswith("bpy")  # recorded the binary's version, not the wheel's
    # Two worker processes were started (one log each).
    logs = os.listdir(out / "logs")
    assert len(logs) >= 2

    # Same labels as the bpy wheel (another Blender, another numpy): labels come from geometry.
    wheel = tmp_path / "wheel"
    r = subprocess.run([sys.executable, "-m", "generator.render", "--out", str(wheel), *TINY, "--clips", "2",
                        "--seed", "5", "--workers", "2"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    with open(wheel / "frames.csv", newline="") as f:
        wheel_frames = list(csv.DictReader(f))
    assert len(wheel_frames) == len(frames)
    for a, b in zip(frames, wheel_frames):
        for col, va in a.items():
            vb = b[col]
            try:
                assert abs(float(va) - float(vb)) <= 1e-6, (a["clip_id"], a["frame"], col, va, vb)
            except ValueError:
                assert va == vb, (a["clip_id"], a["frame"], col, va, vb)
