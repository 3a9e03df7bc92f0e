"""Eye crops, crop cache, window labels and augmentation: what training on a manifest relies on."""
import os
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from manifests import schema
from manifests.io import ManifestError
from manifests.synthetic import write_tiny_dataset
from trainer import cache as crop_cache
from trainer.augment import AugmentConfig, WindowAugment
from trainer.crops import CropConfig, FrameReadError, crop_boxes, crop_eye, read_image
from trainer.data import EyeWindowDataset


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    """2 subjects x 3 clips x 13 frames (blink, no blink, blink), with a subject-disjoint split."""
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny") / "data", n_subjects=2, clips_per_subject=3, split=True)


@pytest.fixture()
def tiny_copy(tiny_root, tmp_path):
    """A private copy to damage / edit (without any cache)."""
    dst = tmp_path / "data"
    shutil.copytree(tiny_root, dst, ignore=shutil.ignore_patterns(".cache"))
    return dst


def blob_image(h, w, points, sigma):
    """A black RGB image with a Gaussian blob per point, point k in channel k (manifest pixel coords)."""
    img = np.zeros((h, w, 3), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5  # pixel centres in manifest coordinates
    for ch, (x, y) in enumerate(points):
        img[..., ch] = np.clip(255 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2)), 0, 255)
    return img


def centroid(channel):
    w = channel.astype(float)
    yy, xx = np.mgrid[0:w.shape[0], 0:w.shape[1]] + 0.5
    return (w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()


# -- crops ----------------------------------------------------------------------------------
@pytest.mark.parametrize("outer,inner", [
    ((200.0, 150.0), (260.0, 150.0)),    # level, small downscale
    ((300.0, 200.0), (240.0, 235.0)),    # tilted 30 deg, right-to-left corner order
    ((101.3, 300.7), (113.9, 290.2)),    # small eye: upscale
    ((700.0, 410.0), (900.0, 330.0)),    # big eye: ROI shrink path
])
def test_crop_centres_eye_and_levels_corners(outer, inner):
    cfg = CropConfig(size=48, scale=1.6)
    d = np.hypot(inner[0] - outer[0], inner[1] - outer[1])
    img = blob_image(600, 1000, [outer, inner], sigma=0.05 * d)
    box = crop_boxes(np.array([outer]), np.array([inner]), cfg)[0]
    crop = crop_eye(img, box, 48)
    assert crop.shape == (48, 48, 3) and crop.dtype == np.uint8
    pts = sorted([centroid(crop[..., 0]), centroid(crop[..., 1])])  # left-to-right in the crop
    half = 48 / (2 * 1.6)  # corners sit side/scale apart, symmetric about the centre
    for (x, y), ex in zip(pts, (24 - half, 24 + half)):
        assert x == pytest.approx(ex, abs=0.15) and y == pytest.approx(24, abs=0.15)


def test_crop_without_rotation_keeps_tilt_and_landmark_centre():
    outer, inner = np.array([[100.0, 100.0]]), np.array([[140.0, 120.0]])
    b = crop_boxes(outer, inner, CropConfig(rotate=False))[0]
    assert b[3] == 0 and (b[0], b[1]) == (120, 110)
    up, lo = np.array([[120.0, 100.0]]), np.array([[120.0, 112.0]])
    b2 = crop_boxes(outer, inner, CropConfig(center="landmarks"), up, lo)[0]
    assert (b2[0], b2[1]) == (120.0, (100 + 120 + 100 + 112) / 4)
    with pytest.raises(ValueError, match="scale"):
        CropConfig(scale=0)


def test_unreadable_frame_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(FrameReadError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(FrameReadError, match="bad.png"):
        read_image(tmp_path / "bad.png")


# -- dataset basics -------------------------------------------------------------------------
def test_items_follow_the_contract(tiny_root):
    ds = EyeWindowDataset(tiny_root)
    assert len(ds) == 6 * 2  # 13-frame clips, window 13: one window per clip and eye
    it = ds[0]
    assert it["frames"].dtype == torch.uint8 and it["frames"].shape == (13, 3, 48, 48)
    assert it["closure"].dtype == torch.float32 and it["closure"].shape == (13,)
    assert it["blink"].dtype == torch.float32 and it["blink"].shape == ()
    assert it["eye"].dtype == torch.int64 and it["eye"].item() in (0, 1)
    assert isinstance(it["clip_id"], str) and it["start"] == 0
    frames = pd.read_csv(tiny_root / "frames.csv")
    for i in range(len(ds)):
        s = ds.samples.iloc[i]
        eye = schema.EYES[s["eye"]]
        clip = frames[frames.clip_id.astype(str) == s["clip_id"]].sort_values("frame")
        np.testing.assert_allclose(ds[i]["closure"].numpy(), clip[f"{eye}_closure"].to_numpy(), atol=1e-6)
        assert s["blink"] == clip["blink"].iloc[0]  # whole-event clips: window label == clip label
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["frames"].shape == (4, 13, 3, 48, 48) and len(batch["clip_id"]) == 4


@pytest.mark.parametrize("eye", schema.EYES)
def test_crops_show_the_labelled_closure(tiny_root, eye):
    """Pixels agree with labels: the bright sclera in the crop centre disappears as the lids close."""
    ds = EyeWindowDataset(tiny_root, eyes=(eye,))
    for i in np.flatnonzero(ds.samples["blink"] == 1):
        it = ds[int(i)]
        centre = it["frames"][:, :, 16:32, 16:32].float().mean(dim=(1, 2, 3))
        assert np.corrcoef(centre.numpy(), it["closure"].numpy())[0, 1] < -0.9


def test_split_filter_and_missing_split_column(tiny_root, tiny_copy):
    frames = pd.read_csv(tiny_root / "frames.csv")
    sizes = {}
    for split in frames["split"].dropna().unique():
        ds = EyeWindowDataset(tiny_root, split=split)
        clips = set(frames.loc[frames.split == split, "clip_id"].astype(str))
        assert set(ds.samples["clip_id"]) == clips
        sizes[split] = len(ds)
    assert sum(sizes.values()) == len(EyeWindowDataset(tiny_root))
    df = pd.read_csv(tiny_copy / "frames.csv").drop(columns=["split"])
    df.to_csv(tiny_copy / "frames.csv", index=False)
    (tiny_copy / "clips.csv").unlink()
    with pytest.raises(ManifestError, match="split"):
        EyeWindowDataset(tiny_copy, split="train", cache=False)


def test_missing_column_is_named(tiny_copy):
    df = pd.read_csv(tiny_copy / "frames.csv").drop(columns=["right_inner_x"])
    df.to_csv(tiny_copy / "frames.csv", index=False)
    with pytest.raises(ManifestError, match="right_inner_x"):
        EyeWindowDataset(tiny_copy, cache=False)


# -- the crop cache -------------------------------------------------------------------------
def test_cache_identical_to_uncached_and_reused(tiny_copy, tmp_path):
    cdir = tmp_path / "cache"
    ds = EyeWindowDataset(tiny_copy, cache_dir=cdir)
    raw = EyeWindowDataset(tiny_copy, cache=False)
    for i in range(len(ds)):
        np.testing.assert_array_equal(ds[i]["frames"].numpy(), raw[i]["frames"].numpy())
    mtime = os.path.getmtime(os.path.join(ds.cache_path, "crops.npy"))
    again = EyeWindowDataset(tiny_copy, cache_dir=cdir)
    assert again.cache_path == ds.cache_path
    assert os.path.getmtime(os.path.join(again.cache_path, "crops.npy")) == mtime  # not rebuilt
    # default location: inside the dataset
    assert EyeWindowDataset(tiny_copy).cache_path.startswith(str(tiny_copy / ".cache"))


def test_cache_rebuilt_when_manifest_or_crop_changes(tiny_copy, tmp_path):
    cdir = tmp_path / "cache"
    ds = EyeWindowDataset(tiny_copy, cache_dir=cdir, eyes=("left",))
    old = ds[0]["frames"].numpy().copy()
    assert EyeWindowDataset(tiny_copy, cache_dir=cdir, crop_size=32).cache_path != ds.cache_path
    df = pd.read_csv(tiny_copy / "frames.csv")
    df[["left_outer_x", "left_inner_x"]] += 4.0  # move the left eye's corners 4 px to the right
    df.to_csv(tiny_copy / "frames.csv", index=False)
    moved = EyeWindowDataset(tiny_copy, cache_dir=cdir, eyes=("left",))
    assert moved.cache_path != ds.cache_path
    new = moved[0]["frames"].numpy()
    assert not np.array_equal(old, new)
    np.testing.assert_array_equal(new, EyeWindowDataset(tiny_copy, cache=False, eyes=("left",))[0]["frames"].numpy())


def test_missing_frame_errors_and_leaves_no_half_cache(tiny_copy, tmp_path):
    victim = tiny_copy / "frames" / sorted(os.listdir(tiny_copy / "frames"))[-1] / "0007.png"
    victim.unlink()
    cdir = tmp_path / "cache"
    with pytest.raises(FrameReadError, match="0007.png"):
        EyeWindowDataset(tiny_copy, cache_dir=cdir)
    assert not any(crop_cache.is_complete(cdir / d) for d in os.listdir(cdir))
    assert os.listdir(cdir) == []  # the temporary build directory is gone too
    raw = EyeWindowDataset(tiny_copy, cache=False)  # uncached: the error comes when the window is read
    bad = [i for i in range(len(raw)) if raw.samples["clip_id"].iat[i] == victim.parent.name]
    with pytest.raises(FrameReadError, match="0007.png"):
        raw[bad[0]]
    cv2.imwrite(str(victim), np.zeros((10, 10, 3), np.uint8))  # wrong size for the manifest
    with pytest.raises(FrameReadError, match=r"0007.png: image is 10x10"):
        raw[bad[0]]


def test_cache_is_readable_from_dataloader_workers(tiny_root):
    ds = EyeWindowDataset(tiny_root)
    ref = torch.stack([ds[i]["frames"] for i in range(len(ds))])
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2, multiprocessing_context="fork")
    got = torch.cat([b["frames"] for b in loader])
    assert torch.equal(got, ref)


# -- window labels --------------------------------------------------------------------------
def expected_peak(closure):
    top = np.flatnonzero(closure >= closure.max() - 1e-6)
    return top[(len(top) - 1) // 2]


def test_window_label_is_peak_inside_window(tmp_path):
    root = write_tiny_dataset(tmp_path / "d", n_subjects=1, clips_per_subject=2, n_frames=16)
    ds = EyeWindowDataset(root, window=5, stride=1, cache=False)
    frames = pd.read_csv(root / "frames.csv")
    assert len(ds) == 2 * 2 * (16 - 5 + 1)
    seen = set()
    for i in range(len(ds)):
        s = ds.samples.iloc[i]
        clip = frames[frames.clip_id.astype(str) == s["clip_id"]].sort_values("frame")
        c = clip[f"{schema.EYES[s['eye']]}_closure"].to_numpy()
        if clip["blink"].iloc[0]:
            inside = s["start"] <= expected_peak(c) < s["start"] + 5
        else:
            inside = False
        assert s["blink"] == float(inside), (s.to_dict(), c)
        seen.add(inside)
    assert seen == {True, False}


def test_labels_are_per_eye(tiny_copy):
    """A wink: the left eye blinks, the right one does not; each eye sample gets its own label."""
    df = pd.read_csv(tiny_copy / "frames.csv")
    clip = df.loc[df.blink == 1, "clip_id"].iloc[0]
    m = df.clip_id == clip
    df.loc[m, "right_blink_id"], df.loc[m, "right_phase"], df.loc[m, "right_closure"] = -1, "open", 0.0
    df.to_csv(tiny_copy / "frames.csv", index=False)
    s = EyeWindowDataset(tiny_copy, cache=False).samples.set_index(["clip_id", "eye"])["blink"]
    assert s[(str(clip), 0)] == 1 and s[(str(clip), 1)] == 0


def test_windows_cover_tail_and_fallback_to_clip_label(tiny_copy):
    ds = EyeWindowDataset(tiny_copy, window=5, cache=False)  # stride = window: 0, 5 and the tail 8
    assert sorted(set(ds.samples["start"])) == [0, 5, 8]
    df = pd.read_csv(tiny_copy / "frames.csv").drop(columns=["left_blink_id", "right_blink_id"])
    df.to_csv(tiny_copy / "frames.csv", index=False)
    fb = EyeWindowDataset(tiny_copy, window=5, cache=False)
    clip_blink = df.groupby(df.clip_id.astype(str))["blink"].first()
    np.testing.assert_array_equal(fb.samples["blink"].to_numpy(), clip_blink[fb.samples["clip_id"]].to_numpy())


def test_single_frame_clips_are_padded_by_repetition(tmp_path):
    root = write_tiny_dataset(tmp_path / "d", n_subjects=1, clips_per_subject=2)
    df = pd.read_csv(root / "frames.csv")
    df = df[df.frame == 6].copy()  # one frame per clip (like single eye images)
    df.to_csv(root / "frames.csv", index=False)
    ds = EyeWindowDataset(root, window=13)
    assert len(ds) == 4
    it = ds[0]
    assert it["frames"].shape == (13, 3, 48, 48) and it["start"] == 6
    assert all(torch.equal(it["frames"][0], f) for f in it["frames"])
    assert torch.all(it["closure"] == it["closure"][0])


def test_class_balance_and_weights(tiny_root):
    ds = EyeWindowDataset(tiny_root)
    cb = ds.class_balance()
    assert (cb["blink"], cb["no_blink"], cb["n"]) == (8, 4, 12) and cb["pos_weight"] == 0.5
    w = ds.sample_weights().numpy()
    y = ds.samples["blink"].to_numpy()
    assert w[y == 1].sum() == pytest.approx(w[y == 0].sum())


# -- augmentation ---------------------------------------------------------------------------
def test_flip_swaps_eye_and_keeps_labels(tiny_root):
    ds = EyeWindowDataset(tiny_root)
    it = ds[0]
    flip = WindowAugment(AugmentConfig(flip_p=1, affine_p=0, color_p=0, grayscale_p=0, blur_p=0, noise_p=0, jpeg_p=0))
    out = flip(it, torch.Generator().manual_seed(0))
    assert out["eye"].item() == 1 - it["eye"].item()
    assert torch.equal(out["frames"], it["frames"].flip(-1))
    assert torch.equal(out["closure"], it["closure"]) and out["blink"] == it["blink"]
    aug_ds = EyeWindowDataset(tiny_root, augment=flip)
    assert all(aug_ds[i]["eye"].item() == 1 - ds[i]["eye"].item() for i in range(len(ds)))


def test_augment_is_deterministic_and_temporally_consistent(tiny_root):
    still = {"frames": torch.from_numpy(np.repeat(EyeWindowDataset(tiny_root).crops(0)[:1], 13, axis=0)),
             "eye": torch.tensor(0)}
    aug = WindowAugment(AugmentConfig(noise_p=0, affine_p=1, color_p=1, blur_p=1, jpeg_p=1, grayscale_p=0))
    out = aug(still, torch.Generator().manual_seed(3))["frames"]
    assert out.dtype == torch.uint8 and not torch.equal(out, still["frames"])
    assert all(torch.equal(out[0], f) for f in out)  # same parameters for every frame: no fake motion
    assert torch.equal(out, aug(still, torch.Generator().manual_seed(3))["frames"])
    assert not torch.equal(out, aug(still, torch.Generator().manual_seed(4))["frames"])
    noisy = WindowAugment(AugmentConfig(noise_p=1, affine_p=0, color_p=0, blur_p=0, jpeg_p=0, grayscale_p=0, flip_p=0))
    n = noisy(still, torch.Generator().manual_seed(0))["frames"]
    assert not torch.equal(n[0], n[1])  # sensor noise differs per frame
    ds = EyeWindowDataset(tiny_root, augment=True, seed=1)
    a, b = ds[2]["frames"], ds[2]["frames"]
    assert torch.equal(a, b)  # same item, same epoch -> same augmentation, in any worker
    ds.set_epoch(1)
    assert not torch.equal(a, ds[2]["frames"])
    with pytest.raises(ValueError, match="flip_p"):
        AugmentConfig(flip_p=2)


def test_color_matrix_is_identity_at_rest_and_greys_at_zero_saturation():
    from trainer.augment import color_matrix
    np.testing.assert_allclose(color_matrix(1, 1, 1, 0, mean_gray=100), np.c_[np.eye(3), np.zeros(3)], atol=1e-9)
    m = color_matrix(1, 1, 0, 0, mean_gray=100)
    rgb = np.array([200.0, 50.0, 10.0])
    y = m[:, :3] @ rgb + m[:, 3]
    np.testing.assert_allclose(y, np.full(3, 0.299 * 200 + 0.587 * 50 + 0.114 * 10), atol=1e-6)
    m = color_matrix(1.5, 1, 1, 0, mean_gray=100)
    np.testing.assert_allclose(m[:, :3] @ rgb + m[:, 3], 1.5 * rgb, atol=1e-6)
    m = color_matrix(1, 0.5, 1, 0, mean_gray=100)  # contrast pulls towards the window's mean grey
    np.testing.assert_allclose(m[:, :3] @ rgb + m[:, 3], 100 + 0.5 * (rgb - 100), atol=1e-6)


def test_stabilize_smooths_jittery_landmarks_within_clips(tiny_copy):
    df = pd.read_csv(tiny_copy / "frames.csv")
    rng = np.random.default_rng(0)
    for c in ("left_outer_x", "left_outer_y", "left_inner_x", "left_inner_y"):
        df[c] += rng.normal(0, 1.0, len(df))  # a landmark detector's jitter
    df.to_csv(tiny_copy / "frames.csv", index=False)
    raw = EyeWindowDataset(tiny_copy, cache=False, eyes=("left",))
    smooth = EyeWindowDataset(tiny_copy, cache=False, eyes=("left",), crop=CropConfig(stabilize=5))
    order = df.sort_values(["clip_id", "frame"]).index.to_numpy()

    def jitter(ds):  # frame-to-frame motion of the box centre inside clips
        b = ds._boxes[order, 0, :2].reshape(-1, 13, 2)
        return np.abs(np.diff(b, axis=1)).mean()
    assert jitter(smooth) < 0.5 * jitter(raw)
    from trainer.crops import smooth_boxes
    still = np.tile([10.0, 20.0, 30.0, 0.1], (7, 1))
    np.testing.assert_allclose(smooth_boxes(still, 5), still)  # nothing to smooth, nothing changes


def test_frames_without_landmarks_borrow_the_nearest_box_and_eyes_without_any_are_skipped(tiny_copy):
    df = pd.read_csv(tiny_copy / "frames.csv")
    clips = sorted(df.clip_id.astype(str).unique())
    lm = [f"right_{p}_{a}" for p in ("outer", "inner") for a in "xy"]
    first = df.clip_id.astype(str) == clips[0]
    df.loc[first & (df.frame == 5), lm] = np.nan  # one occluded frame
    df.loc[df.clip_id.astype(str) == clips[1], lm] = np.nan  # eye never located in a whole clip
    df.to_csv(tiny_copy / "frames.csv", index=False)
    ds = EyeWindowDataset(tiny_copy, cache_dir=tiny_copy.parent / "c")
    keys = set(zip(ds.samples["clip_id"].astype(str), ds.samples["eye"]))
    assert (clips[1], 1) not in keys and (clips[1], 0) in keys and len(ds) == 2 * len(clips) - 1
    i = int(np.flatnonzero((ds.samples["clip_id"].astype(str) == clips[0]) & (ds.samples["eye"] == 1))[0])
    f = ds[i]["frames"]
    assert f[5].float().std() > 10  # a real crop (the frame-4 box), not a blank
    raw = EyeWindowDataset(tiny_copy, cache=False)
    assert torch.equal(raw[i]["frames"], f)


def test_concurrent_builders_end_with_one_complete_cache(tiny_root, tmp_path):
    """Two processes (e.g. DDP ranks) building the same cache: the loser's copy is discarded, not an error."""
    ds = EyeWindowDataset(tiny_root, cache_dir=tmp_path / "c")
    ref = crop_cache.open_cache(ds.cache_path).copy()
    again = crop_cache.build_cache(ds.cache_path, ds._image_paths, ds._image_hw, ds._boxes, ds._valid, ds.crop,
                                   meta={}, progress=False)  # finishes second: rename target exists
    assert again == ds.cache_path and os.listdir(tmp_path / "c") == [os.path.basename(ds.cache_path)]
    np.testing.assert_array_equal(crop_cache.open_cache(ds.cache_path), ref)


def test_cache_built_by_worker_processes_is_identical(tiny_root, tmp_path):
    one = EyeWindowDataset(tiny_root, cache_dir=tmp_path / "a")
    two = EyeWindowDataset(tiny_root, cache_dir=tmp_path / "b", cache_workers=2)
    np.testing.assert_array_equal(crop_cache.open_cache(one.cache_path), crop_cache.open_cache(two.cache_path))


def test_import_trainer_is_light():
    import subprocess
    import sys
    code = "import sys, trainer, trainer.crops; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
