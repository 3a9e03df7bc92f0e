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


def test_video_only_dataset(tiny_dataset, capsys):
    """Frames stored only in videos/<clip_id>.mp4 (video + video_frame columns) are previewed too."""
    imageio = pytest.importorskip("imageio.v2")
    pytest.importorskip("imageio_ffmpeg")
    frames = pd.read_csv(tiny_dataset / "frames.csv")
    (tiny_dataset / "videos").mkdir()
    for cid, clip in frames.groupby("clip_id"):
        imgs = [cv2.imread(str(tiny_dataset / p))[:, :, ::-1] for p in clip.sort_values("frame")["image"]]
        imageio.mimwrite(tiny_dataset / "videos" / f"{cid}.mp4", imgs, fps=30, macro_block_size=16)
    frames["video"] = "videos/" + frames["clip_id"] + ".mp4"
    frames["video_frame"] = frames["frame"]
    frames["image"] = ""
    frames.to_csv(tiny_dataset / "frames.csv", index=False)
    first = frames["clip_id"].iloc[0]
    (tiny_dataset / "videos" / f"{first}.mp4").write_bytes(b"broken")
    assert P.main([str(tiny_dataset)]) == 0
    err = capsys.readouterr().err
    assert f"videos/{first}.mp4" in err  # the broken video is named, the others still previewed
    sheet = cv2.imread(str(tiny_dataset / "preview.png"))
    assert sheet is not None and sheet.shape[0] >= 2 * P.TILE
