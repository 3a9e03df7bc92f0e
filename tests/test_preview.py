"""generator.preview on the tiny synthetic dataset: files written, labels drawn where they belong."""
import os

import numpy as np
import pandas as pd
import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("matplotlib")

from generator import preview as P  # noqa: E402


def test_writes_contact_sheet_and_curves(tiny_dataset, capsys):
    assert P.main([str(tiny_dataset)]) == 0
    sheet = cv2.imread(str(tiny_dataset / "preview.png"))
    curves = cv2.imread(str(tiny_dataset / "closure_curves.png"))
    assert sheet is not None and curves is not None
    n_clips = pd.read_csv(tiny_dataset / "frames.csv")["clip_id"].nunique()
    assert sheet.shape[0] >= n_clips * P.TILE  # one row of tiles per clip
    assert "preview:" in capsys.readouterr().out
    assert not [p for p in os.listdir(tiny_dataset) if p.endswith(".tmp") or p.startswith(".")]


def test_landmarks_drawn_at_their_coordinates(tiny_dataset):
    frames = pd.read_csv(tiny_dataset / "frames.csv")
    row = frames.iloc[0].to_dict()
    img = cv2.imread(str(tiny_dataset / row["image"]))
    tile = P._draw_tile(img, row, row["image"])
    scale = P.TILE / img.shape[0]
    for eye in P.EYES:
        x = int(round((row[f"{eye}_upper_x"] + 0.5) * scale - 0.5))
        y = int(round((row[f"{eye}_upper_y"] + 0.5) * scale - 0.5))
        patch = tile[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).astype(int)
        want = np.array(P.EYE_BGR[eye])
        assert (np.abs(patch - want).sum(axis=1) < 60).any(), f"{eye} upper-lid marker not at its label"
    plain = P._draw_tile(img, {"frame": 0}, row["image"])  # a manifest without landmarks draws none
    assert not (np.abs(plain[:P.TILE].astype(int) - np.array(P.EYE_BGR["left"])).sum(axis=2) < 30).any()


def test_peak_frame_always_shown(tiny_dataset):
    frames = pd.read_csv(tiny_dataset / "frames.csv")
    for _, clip in frames.groupby("clip_id"):
        clip = clip.sort_values("frame").reset_index(drop=True)
        picks = P._pick_frames(clip, 4)
        assert len(picks) == 4
        closure = np.maximum(clip["left_closure"], clip["right_closure"])
        if closure.max() > 0:
            assert int(closure.to_numpy().argmax()) in picks


def test_unreadable_frame_is_shown_and_reported(tiny_dataset, capsys):
    frames = pd.read_csv(tiny_dataset / "frames.csv")
    bad = tiny_dataset / frames.iloc[0]["image"]
    bad.write_bytes(b"not a png")
    assert P.main([str(tiny_dataset), "--max-clips", "1", "--frames-per-clip", "3"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and str(bad) in err
    sheet = cv2.imread(str(tiny_dataset / "preview.png"))
    red = (sheet[:, :, 2] > 180) & (sheet[:, :, 0] < 60) & (sheet[:, :, 1] < 60)
    assert red.sum() > 100  # the red placeholder tile


def test_malformed_manifest_is_a_clear_error(tiny_dataset, capsys):
    frames = pd.read_csv(tiny_dataset / "frames.csv", dtype=str)
    frames.loc[3, "frame"] = "three"
    frames.to_csv(tiny_dataset / "frames.csv", index=False)
    assert P.main([str(tiny_dataset)]) == 2
    err = capsys.readouterr().err
    assert "frames.csv" in err and "frame" in err
    assert not (tiny_dataset / "preview.png").exists()
    assert P.main([str(tiny_dataset / "nope")]) == 2
