"""The trainer's evaluation and calibration commands fail on bad input the way every command does
(manifests.cli_errors): one line `error: ...` naming the file, exit status 2, no traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# command, its arguments with a missing file ({d}: a fresh directory), the path the error must name
CASES = {
    "predict": (["{d}/missing.mp4", "--method", "ear", "--out", "{d}/out"], "missing.mp4"),
    "evaluate_eye_state": (["--checkpoint", "{d}/missing.pt", "--root", "{d}/missing_root",
                            "--report", "{d}/report.json"], "missing_root"),
    "evaluate_video": (["--videos", "{d}/missing_videos", "--method", "ear", "--out", "{d}/out"],
                       "missing_videos"),
    "calibrate": (["--checkpoint", "{d}/missing.pt", "--out", "{d}/calibrated.pt"], "missing.pt"),
    "calibrate_events": (["--checkpoint", "{d}/missing.pt", "--data", "{d}/missing_data",
                          "--out", "{d}/events.json"], "missing"),
}


@pytest.mark.parametrize("command", sorted(CASES))
def test_missing_input_is_one_line_error_with_status_2(command, tmp_path):
    args, named = CASES[command]
    r = subprocess.run([sys.executable, "-m", f"trainer.{command}", *(a.format(d=tmp_path) for a in args)],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    assert str(tmp_path) in lines[0] and named in lines[0]
    assert not any(tmp_path.iterdir())  # nothing half-written
