"""The real-video pipeline on generated videos of a real face (no checkpoint: --method ear):
FaceMesh tracking, the EAR baseline, events, gaps, several faces and bad input."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("mediapipe")
pytest.importorskip("skimage")

from tests.video_fixtures import face_frames, two_face_frames, write_video  # noqa: E402
from trainer.predict import main as predict_main  # noqa: E402


def _run_ear(video, out, capsys=None):
    rc = predict_main(["--method", "ear", str(video), "--out", str(out)])
    return rc


def test_ear_finds_the_one_painted_blink(tmp_path):
    video = tmp_path / "blink.mp4"
    write_video(video, face_frames(45, closed=range(20, 23)))
    assert _run_ear(video, tmp_path / "out") == 0
    table = pd.read_csv(tmp_path / "out" / "closure.csv")
    assert len(table) == 45 and table["detected"].all()
    # the subject's right eye is on the image's left
    assert (table["right_outer_x"] < table["right_inner_x"]).all()
    assert (table["left_outer_x"] > table["left_inner_x"]).all()
    assert (table["right_inner_x"] < table["left_inner_x"]).all()
    events = pd.read_csv(tmp_path / "out" / "events.csv")
    blinks = events.query("blink == 1")
    assert len(blinks) == 1 and len(events) == 1, events
    ev = blinks.iloc[0]
    assert ev["eyes"] == "both" and ev["start_frame"] <= 22 and ev["end_frame"] >= 20
    assert ev["end_frame"] - ev["start_frame"] <= 5
    summary = json.loads((tmp_path / "out" / "events.json").read_text())
    assert summary["method"] == "ear" and summary["blinks"] == 1 and summary["faces_seen"] == 1


def test_face_that_leaves_is_a_gap_never_a_blink(tmp_path):
    video = tmp_path / "leaves.mp4"
    write_video(video, face_frames(50, absent=range(18, 30)))
    assert _run_ear(video, tmp_path / "out") == 0
    table = pd.read_csv(tmp_path / "out" / "closure.csv")
    gone = table["frame"].between(18, 29)
    assert (table.loc[gone, "detected"] == 0).all() and (table.loc[~gone, "detected"] == 1).all()
    assert table.loc[gone, ["left_closure", "right_closure"]].isna().all().all()
    assert len(pd.read_csv(tmp_path / "out" / "events.csv")) == 0


def test_two_faces_one_is_followed_and_the_user_is_told(tmp_path, capsys):
    video = tmp_path / "two.mp4"
    write_video(video, two_face_frames(30))
    assert _run_ear(video, tmp_path / "out") == 0
    out = capsys.readouterr().out
    assert "2 faces seen; followed one" in out
    table = pd.read_csv(tmp_path / "out" / "closure.csv")
    assert table["detected"].all()
    centre_x = table[["left_outer_x", "right_outer_x"]].mean(axis=1)
    # the same face all along: its eyes stay in one half of the 640-wide frame
    assert (centre_x < 320).all() or (centre_x > 320).all()
    assert len(pd.read_csv(tmp_path / "out" / "events.csv")) == 0


def test_bad_inputs_get_one_line_and_exit_2(tmp_path, capsys):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    assert _run_ear(text, tmp_path / "o1") == 2
    err = capsys.readouterr().err.strip()
    assert "notes.mp4" in err and len(err.splitlines()) == 1
    assert _run_ear(tmp_path / "missing.mp4", tmp_path / "o2") == 2
    assert "missing.mp4" in capsys.readouterr().err
    blank = tmp_path / "noface.mp4"
    write_video(blank, [np.full((120, 160, 3), 128, np.uint8)] * 6)
    assert _run_ear(blank, tmp_path / "o3") == 2
    err = capsys.readouterr().err.strip()
    assert "noface.mp4" in err and "no face" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o3" / "events.csv").exists()  # nothing half-written


def test_variable_frame_rate_keeps_true_times(tmp_path):
    """A VFR file (frames of 40 ms and 120 ms): times come from the container, frames stay frames."""
    import subprocess

    import cv2
    import imageio_ffmpeg

    frames = face_frames(24)
    lines = []
    for k, f in enumerate(frames):
        p = tmp_path / f"f{k:03d}.png"
        cv2.imwrite(str(p), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        lines += [f"file '{p}'", f"duration {0.12 if k % 2 else 0.04}"]
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    video = tmp_path / "vfr.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "concat", "-safe", "0",
                    "-i", str(tmp_path / "list.txt"), "-fps_mode", "vfr", "-pix_fmt", "yuv420p",
                    "-c:v", "libx264", str(video)], check=True)
    assert _run_ear(video, tmp_path / "out") == 0
    table = pd.read_csv(tmp_path / "out" / "closure.csv")
    assert len(table) == 24 and table["detected"].all()
    steps = np.diff(table["time_s"].to_numpy())
    assert steps.min() == pytest.approx(0.04, abs=0.011) and steps.max() == pytest.approx(0.12, abs=0.011)
    assert len(pd.read_csv(tmp_path / "out" / "events.csv")) == 0
