"""Adapters: real eye-state crops and a fake HUST-LEBW tree become valid manifests."""
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from manifests.adapters import eye_state_folder, hust_lebw
from manifests.adapters.common import AdapterError
from manifests.validate import validate

REAL = Path("/work/shared/realdata/eye-state-kaggle/originalData")
# _2.jpg is really a PNG, _241.jpg a PNG with an alpha channel (see its SOURCE.txt)
REAL_PICK = {"Closed": ["_2.jpg", "_241.jpg", "_0.jpg"], "Open": ["_0.jpg", "_1.jpg"]}


@pytest.fixture
def eye_state_src(tmp_path):
    if not REAL.is_dir():
        pytest.skip(f"real eye-state folder not present at {REAL}")
    src = tmp_path / "src"
    for cls, names in REAL_PICK.items():
        (src / cls).mkdir(parents=True)
        for n in names:
            shutil.copy(REAL / cls / n, src / cls / n)
    return src


def test_eye_state_adapter_on_real_images(eye_state_src, tmp_path):
    out = eye_state_folder.convert(eye_state_src, tmp_path / "out")
    assert validate(out, features=["eye_crops", "closure_regression"]) == []
    frames = pd.read_csv(out / "frames.csv")
    assert len(frames) == 5 and (frames["frame"] == 0).all() and frames["clip_id"].is_unique
    closure = dict(zip(pd.read_csv(out / "clips.csv")["source"], frames["left_closure"]))
    assert closure == {"Closed/_0.jpg": 1.0, "Closed/_2.jpg": 1.0, "Closed/_241.jpg": 1.0,
                       "Open/_0.jpg": 0.0, "Open/_1.jpg": 0.0}
    assert frames["blink"].isna().all() and frames["left_phase"].isna().all()  # unknown, not guessed
    assert (frames["right_visible"] == 0).all()
    for _, r in frames.iterrows():
        img = cv2.imread(str(out / r["image"]), cv2.IMREAD_UNCHANGED)
        assert img.shape == (r["height"], r["width"], 3)  # RGBA and PNG-named-jpg normalised
        assert (r["left_outer_x"], r["left_inner_x"]) == (r["width"], 0)  # the crop is the eye
    src_img = cv2.imread(str(eye_state_src / "Closed" / "_241.jpg"), cv2.IMREAD_UNCHANGED)
    assert src_img.shape[2] == 4
    # real JPEGs are copied byte for byte; the PNGs named .jpg are re-encoded as .png
    image = dict(zip(pd.read_csv(out / "clips.csv")["source"], frames["image"]))
    assert image["Closed/_241.jpg"].endswith(".png") and image["Closed/_2.jpg"].endswith(".png")
    assert image["Open/_0.jpg"].endswith(".jpg")
    assert (out / image["Open/_0.jpg"]).read_bytes() == (eye_state_src / "Open" / "_0.jpg").read_bytes()
    assert json.loads((out / "dataset.json").read_text())["use"].startswith("evaluation only")


def test_eye_state_adapter_unreadable_image_names_file_and_writes_nothing(eye_state_src, tmp_path):
    (eye_state_src / "Open" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(AdapterError, match=r"Open/broken.jpg: not a readable image"):
        eye_state_folder.convert(eye_state_src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]  # no temporary directory left


def test_eye_state_adapter_refuses_non_empty_output_and_missing_classes(tmp_path):
    (tmp_path / "src" / "cats").mkdir(parents=True)
    with pytest.raises(AdapterError, match="no class subfolders Open/Closed"):
        eye_state_folder.convert(tmp_path / "src", tmp_path / "out")
    (tmp_path / "src" / "Open").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(AdapterError, match="not an empty directory"):
        eye_state_folder.convert(tmp_path / "src", tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def _eye_image(side, t, size=(40, 24)):
    """An image whose colour says which side it came from and whose brightness says its frame."""
    img = np.zeros((size[1], size[0], 3), np.uint8)
    img[..., 2 if side == "zuo" else 0] = 200  # zuo red, you blue (BGR)
    img[..., 1] = 10 * t
    return img


def _fake_hust(root: Path, samples: dict, layout="json", skip=()):
    """samples: {folder: label}. Frame files 1.bmp..13.bmp (numeric order differs from text order)."""
    for folder in samples:
        for side in ("zuo", "you"):
            if (folder, side) in skip:
                continue
            d = root / folder / "13" / side
            d.mkdir(parents=True)
            for t in range(1, 14):
                cv2.imwrite(str(d / f"{t}.bmp"), _eye_image(side, t))
    if layout == "json":
        (root / "train_data.json").write_text(json.dumps({f: l for f, l in samples.items() if "test" not in f}))
        (root / "test_data.json").write_text(json.dumps({f: l for f, l in samples.items() if "test" in f}))


def test_hust_lebw_zuo_is_the_subjects_right_eye(tmp_path):
    src = tmp_path / "hust"
    _fake_hust(src, {"train/blink/001": 1, "train/non blink/002": 0, "test/blink/003": 1},
               skip={("test/blink/003", "you")})
    out = hust_lebw.convert(src, tmp_path / "out")
    assert validate(out, features=["eye_crops", "clip_classification"]) == []
    frames = pd.read_csv(out / "frames.csv")
    clips = pd.read_csv(out / "clips.csv").set_index("clip_id")
    assert len(clips) == 5 and (clips["n_frames"] == 13).all()
    right = clips[clips["image_side"] == "zuo"]
    assert right.index.str.endswith("__right").all()  # image left = subject's right
    assert (clips.loc[clips["image_side"] == "you"].index.str.endswith("__left")).all()
    assert dict(clips["blink"]) == {"train-blink-001__right": 1, "train-blink-001__left": 1,
                                    "train-non-blink-002__right": 0, "train-non-blink-002__left": 0,
                                    "test-blink-003__right": 1}
    assert dict(clips["split"])["test-blink-003__right"] == "test"
    # both eyes of a sample are one subject, so a subject-disjoint split keeps them together
    assert clips.loc["train-blink-001__left", "subject_id"] == clips.loc["train-blink-001__right", "subject_id"]
    # pixels: the right-eye clip shows the zuo (red) crops, in numeric frame order (1, 2, ..., 13)
    rows = frames[frames["clip_id"] == "train-blink-001__right"].sort_values("frame")
    assert (rows["right_visible"] == 1).all() and (rows["left_visible"] == 0).all()
    assert (rows["right_outer_x"] == 0).all()  # subject's right eye: outer corner on the image left
    for _, r in rows.iterrows():
        img = cv2.imread(str(out / r["image"]))
        assert img[0, 0, 2] == 200 and img[0, 0, 0] == 0
        assert img[0, 0, 1] == 10 * (r["frame"] + 1)
    info = json.loads((out / "dataset.json").read_text())
    assert info["missing_sequences"] == ["test/blink/003/13/you"]


def test_hust_lebw_without_json_reads_labels_from_folder_names(tmp_path):
    src = tmp_path / "hust"
    _fake_hust(src, {"train/blink/a": 1, "test/non-blink/b": 0}, layout="walk")
    out = hust_lebw.convert(src, tmp_path / "out")
    assert validate(out) == []
    clips = pd.read_csv(out / "clips.csv").set_index("clip_id")
    assert dict(clips["blink"]) == {"train-blink-a__right": 1, "train-blink-a__left": 1,
                                    "test-non-blink-b__right": 0, "test-non-blink-b__left": 0}
    assert set(clips.loc[clips["blink"] == 0, "split"]) == {"test"}


def test_hust_lebw_bad_label_file_is_named(tmp_path):
    src = tmp_path / "hust"
    _fake_hust(src, {"s1": 1})
    (src / "train_data.json").write_text('{"s1": "yes"}')
    with pytest.raises(AdapterError, match=r"train_data.json: sample 's1': label must be 0 or 1"):
        hust_lebw.convert(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
