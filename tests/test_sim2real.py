"""Issue 12 (sim-to-real): framing randomisation inside the rendered pixels, presets, closure
calibration, the transfer benchmark on a fake real-data folder, the shipped-model hook."""
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from trainer.augment import PRESETS, AugmentConfig, FramingInput, WindowAugment, draw_framing
from trainer.crops import crop_boxes, crop_eye, cut_framing, framing_fits, rendered_rect

REPO = Path(__file__).resolve().parents[1]


def _eye_region_frame(rect=(50, 64, 160, 140), size=200):
    """A frame like an eye-region render: picture inside `rect`, black (with a sparse dither) outside."""
    rng = np.random.default_rng(0)
    img = np.zeros((size, size, 3), np.uint8)
    img[rng.random((size, size)) < 0.05] = 1  # the dither Cycles leaves in the unrendered border
    x0, y0, x1, y1 = rect
    img[y0:y1, x0:x1] = 200
    cv2.ellipse(img, (100, 100), (20, 8), 0, 0, 360, (60, 40, 30), -1)  # an "eye"
    return img


def _framing_input(img, context_scale=2.8, size=48, scale=1.6):
    box = crop_boxes(np.array([[80.0, 100.0]]), np.array([[120.0, 100.0]]), type("C", (), dict(scale=scale, center="corners", rotate=True))())
    ctx_px = round(size * context_scale / scale)
    ctx_box = box.copy()
    ctx_box[:, 2] *= context_scale / scale
    context = np.stack([crop_eye(img, ctx_box[0], ctx_px)] * 3)  # a 3-frame window of a still eye
    fi = FramingInput(boxes=np.repeat(box, 3, axis=0), rects=np.repeat(rendered_rect(img)[None], 3, axis=0),
                      corner_scale=scale, context_scale=context_scale, size=size)
    return context, fi


def test_rendered_rect_finds_the_picture_and_ignores_the_dither():
    img = _eye_region_frame()
    assert rendered_rect(img).tolist() == [50, 64, 160, 140]
    assert rendered_rect(np.full((30, 40, 3), 90, np.uint8)).tolist() == [0, 0, 40, 30]


def test_framing_is_clamped_to_rendered_pixels():
    img = _eye_region_frame()
    context, fi = _framing_input(img)
    cfg = AugmentConfig(framing_p=1.0, framing_scale=(1.3, 2.8), flip_p=0, affine_p=0, color_p=0, grayscale_p=0,
                        blur_p=0, noise_p=0, jpeg_p=0)
    aug = WindowAugment(cfg)
    twin = img.copy()
    twin[img.max(axis=2) < 2] = 200  # the same frame with picture where the render left black
    twin_context, _ = _framing_input(twin)
    scales = []
    for seed in range(60):
        scale, offset, roll = draw_framing(fi, cfg, torch.Generator().manual_seed(seed))
        scales.append(scale)
        assert framing_fits(fi.boxes, fi.rects, scale, offset, roll, fi.corner_scale, fi.context_scale)
        out, out_twin = (aug({"frames": torch.from_numpy(c.transpose(0, 3, 1, 2).copy()), "eye": torch.tensor(0),
                              "framing": fi}, torch.Generator().manual_seed(seed))["frames"].numpy().astype(int)
                         for c in (context, twin_context))
        assert out.shape == (3, 3, 48, 48)
        # nothing of the black border reaches the crop: it equals the crop of the black-free twin
        assert np.abs(out - out_twin).max() <= 2, seed
        assert np.array_equal(out[0], out[1]) and np.array_equal(out[0], out[2])  # one framing per window
    # the rect is 76 px tall around an eye of corner distance 40: it holds 1.9x at most, never 2.8x
    assert 1.6 < max(scales) <= 1.9 + 1e-6
    assert len(set(np.round(scales, 3))) > 5  # still randomised


def test_framing_uses_the_full_range_where_the_render_holds_it():
    img = np.full((200, 200, 3), 180, np.uint8)  # a full-frame render: nothing to clamp
    context, fi = _framing_input(img)
    cfg = AugmentConfig(framing_p=1.0, framing_scale=(1.3, 2.8), framing_max_offset=0.0, framing_max_roll_deg=0.0)
    scales = [draw_framing(fi, cfg, torch.Generator().manual_seed(s))[0] for s in range(200)]
    assert min(scales) >= 1.3 - 1e-9 and max(scales) <= 2.8 + 1e-9 and max(scales) > 2.6


def test_nominal_cut_of_the_context_matches_the_direct_crop():
    rng = np.random.default_rng(1)
    img = cv2.GaussianBlur(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8), (7, 7), 2)
    context, fi = _framing_input(img)
    cut = cut_framing(context, fi.context_scale, fi.corner_scale, size=48)[0].astype(float)
    direct = crop_eye(img, fi.boxes[0], 48).astype(float)
    assert np.abs(cut - direct).mean() < 2.0  # resampled twice vs once: a little, not a shift


def test_presets_and_their_errors():
    assert PRESETS["default"] == AugmentConfig()
    assert PRESETS["strong"].context_scale == PRESETS["strong"].framing_scale[1]
    assert PRESETS["default"].context_scale is None
    with pytest.raises(ValueError, match="unknown 'bogus'"):
        WindowAugment("bogus")
    with pytest.raises(ValueError, match="framing_scale"):
        AugmentConfig(framing_scale=(2.0, 1.0))
    from trainer.config import ConfigError, TrainConfig
    with pytest.raises(ConfigError, match="augment_preset"):
        TrainConfig(data="x", augment_preset="bogus").validate()


def test_strong_preset_dataset_items_keep_the_contract(tiny_dataset):
    from trainer.data import EyeWindowDataset

    ds = EyeWindowDataset(tiny_dataset, augment=WindowAugment("strong"), crop_size=32, cache_dir=tiny_dataset / "c")
    assert ds.context is not None and ds.context.size == round(32 * 2.8 / 1.6)
    for i in range(len(ds)):
        item = ds[i]
        assert item["frames"].shape == (13, 3, 32, 32) and item["frames"].dtype == torch.uint8
        assert "framing" not in item
    again = EyeWindowDataset(tiny_dataset, augment=WindowAugment("strong"), crop_size=32, cache_dir=tiny_dataset / "c")
    assert torch.equal(again[3]["frames"], ds[3]["frames"])  # deterministic per (seed, epoch, index)
    uncached = EyeWindowDataset(tiny_dataset, augment=WindowAugment("strong"), crop_size=32, cache=False)
    assert torch.equal(uncached[3]["frames"], ds[3]["frames"])


def test_platt_fit_recovers_a_known_map_and_keeps_the_order():
    from trainer.calibrate import fit_platt

    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, 20000)
    y = rng.random(len(z)) < 1 / (1 + np.exp(-(0.5 * z - 1.0)))
    a, b = fit_platt(z, y, np.ones(len(z)))
    assert abs(a - 0.5) < 0.05 and abs(b + 1.0) < 0.1
    a, _ = fit_platt(z, ~y, np.ones(len(z)))  # an inverted score: the map may flatten, never flip
    assert a >= 0


def test_calibration_buffers_load_from_old_checkpoints_and_change_the_output():
    from trainer.models import create_model

    m = create_model("blinkformer_tiny", window=3, crop_size=16).eval()
    old = {k: v for k, v in m.state_dict().items() if not k.startswith("closure_s") and k != "closure_bias"}
    fresh = create_model("blinkformer_tiny", window=3, crop_size=16).eval()
    fresh.load_state_dict(old)  # strict: a checkpoint from before calibration still loads
    x = torch.randint(0, 255, (2, 3, 3, 16, 16), dtype=torch.uint8)
    raw = fresh(x)["closure_logit"]
    fresh.closure_scale.fill_(2.0)
    fresh.closure_bias.fill_(-1.0)
    assert torch.allclose(fresh(x)["closure_logit"], 2 * raw - 1, atol=1e-5)
    again = create_model("blinkformer_tiny", window=3, crop_size=16)
    again.load_state_dict(fresh.state_dict())
    assert float(again.closure_scale) == 2.0 and float(again.closure_bias) == -1.0


def _fake_real_data(root: Path) -> Path:
    """A tiny real-data folder: dark-slit 'closed' and round-iris 'open' eye crops."""
    for label in ("Open", "Closed"):
        d = root / "eye-state-fake" / "data" / label
        d.mkdir(parents=True)
        for i in range(4):
            img = np.full((60, 70, 3), 170 + 10 * i, np.uint8)
            if label == "Open":
                cv2.circle(img, (35, 30), 10, (40, 30, 20), -1)
            else:
                cv2.line(img, (10, 32), (60, 32), (40, 30, 20), 2)
            cv2.imwrite(str(d / f"{i}.png"), img)
    return root


def test_transfer_bench_writes_a_table_on_fake_real_data(tmp_path):
    from trainer.checkpoint import checkpoint_state
    from trainer.models import create_model

    real = _fake_real_data(tmp_path / "realdata")
    m = create_model("blinkformer_tiny", window=3, crop_size=16)
    torch.save(checkpoint_state(m, "blinkformer_tiny", dict(window=3, crop_size=16), dict(size=16, scale=1.6)),
               tmp_path / "a.pt")
    cal = checkpoint_state(m, "blinkformer_tiny", dict(window=3, crop_size=16), dict(size=16, scale=1.6))
    cal["calibration"] = {"threshold": 0.5, "scale": 1.0, "bias": 0.0}
    torch.save(cal, tmp_path / "b.pt")
    out = tmp_path / "t.md"
    r = subprocess.run([sys.executable, str(REPO / "bench" / "transfer.py"), str(tmp_path / "a.pt"), str(tmp_path / "b.pt"),
                        "--real", str(real), "--out", str(out), "--json", str(tmp_path / "t.json"), "--threads", "1"],
                       capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "t.json").read_text())
    assert [Path(x["checkpoint"]).name for x in rows] == ["a.pt", "b.pt"]
    assert rows[0]["threshold_source"].startswith("0.5 fixed") and "calibrated" in rows[1]["threshold_source"]
    e = rows[0]["eye_state"]["eye-state-fake"]
    assert e["images"] == 8 and 0 <= e["auroc_closure"] <= 1 and 0 <= e["balanced_accuracy"] <= 1
    assert "skipped" in rows[0]["videos"]  # no videos-dev here: said, not failed
    assert "eye-state-fake AUROC" in out.read_text()
    bad = subprocess.run([sys.executable, str(REPO / "bench" / "transfer.py"), str(tmp_path / "a.pt"), "--real",
                          str(tmp_path / "nope"), "--out", str(tmp_path / "x.md")], capture_output=True, text=True,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert bad.returncode == 2 and "nope" in bad.stderr and "Traceback" not in bad.stderr


def test_calibrate_cli_writes_a_small_model_only_checkpoint_that_predict_loads(tiny_dataset, tmp_path):
    """Train nothing: a fresh model on the tiny dataset's val split still gets a fitted, monotone map,
    and the --half checkpoint gives the same closure within 1e-2."""
    from trainer.calibrate import main as calibrate_main
    from trainer.checkpoint import load_trained_model
    from trainer.checkpoint import checkpoint_state
    from trainer.models import create_model

    subprocess.run([sys.executable, "-m", "manifests", "split", str(tiny_dataset), "--ratios", "0.5", "0.5", "0"],
                   check=True, capture_output=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    torch.manual_seed(0)
    m = create_model("blinkformer_tiny", window=13, crop_size=48)
    ckpt = checkpoint_state(m, "blinkformer_tiny", dict(window=13, crop_size=48), dict(size=48, scale=1.6),
                            config=dict(data=str(tiny_dataset)), optimizer={"big": torch.zeros(1000)})
    torch.save(ckpt, tmp_path / "last.pt")
    for half in (False, True):
        out = tmp_path / f"cal{int(half)}.pt"
        assert calibrate_main(["--checkpoint", str(tmp_path / "last.pt"), "--out", str(out), "--data", str(tiny_dataset),
                               "--threads", "1"] + (["--half"] if half else [])) == 0
        c = torch.load(out, weights_only=True)
        assert "optimizer" not in c and c["calibration"]["scale"] >= 0 and len(c["calibration"]["per_resolution"]) == 4
    (m32, _), (m16, _) = load_trained_model(tmp_path / "cal0.pt"), load_trained_model(tmp_path / "cal1.pt")
    assert (tmp_path / "cal1.pt").stat().st_size < 0.6 * (tmp_path / "cal0.pt").stat().st_size
    x = torch.randint(0, 255, (4, 13, 3, 48, 48), dtype=torch.uint8)
    with torch.no_grad():
        d = (torch.sigmoid(m32(x)["closure_logit"]) - torch.sigmoid(m16(x)["closure_logit"])).abs().max()
    assert d < 1e-2
    assert calibrate_main(["--checkpoint", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "x.pt")]) == 2


def test_shipped_model_is_small_calibrated_and_the_predict_default(tmp_path, monkeypatch, capsys):
    from trainer import shipped
    from trainer.checkpoint import load_trained_model
    from trainer.predict import main as predict_main

    path = shipped.default_checkpoint_path()
    assert path.stat().st_size < 12 * 2**20  # carried in git: keep it small
    model, ckpt = load_trained_model(path)
    assert ckpt["calibration"]["threshold"] == 0.5 and "optimizer" not in ckpt
    assert ckpt["model_name"] == "blinkformer_cnn_tiny"
    # predict without --checkpoint scores a folder with it
    d = tmp_path / "eyes" / "open"
    d.mkdir(parents=True)
    cv2.imwrite(str(d / "a.png"), np.full((40, 50, 3), 128, np.uint8))
    assert predict_main([str(tmp_path / "eyes"), "--out", str(tmp_path / "p"), "--device", "cpu"]) == 0
    assert (tmp_path / "p" / "scores.csv").is_file()
    # a copy without the weights: a one-line error naming the missing file, exit 2
    monkeypatch.setattr(shipped, "SHIPPED_CHECKPOINT", tmp_path / "none.pt")
    assert predict_main([str(tmp_path / "eyes"), "--out", str(tmp_path / "q"), "--device", "cpu"]) == 2
    assert "none.pt" in capsys.readouterr().err


def _still_window(t=13, s=48):
    """A window of one still, textured eye: any difference between its frames is the augmentation's."""
    img = np.full((s, s, 3), 170, np.uint8)
    img[::6] = 150  # horizontal stripes: a shift shows
    cv2.ellipse(img, (s // 2, s // 2), (s // 4, s // 10), 0, 0, 360, (40, 30, 25), -1)
    return {"frames": torch.from_numpy(np.stack([img] * t).transpose(0, 3, 1, 2).copy()), "eye": 0}


def test_crop_wobble_moves_the_eye_per_frame_only_when_asked():
    """jitter_p: each frame's crop wobbles like a real landmark detector's (per-frame shift and a
    slow drift, within the configured bounds); off, every frame of a still window stays the same
    and the other presets' random streams are untouched."""
    plain = dict(flip_p=0, affine_p=0, color_p=0, grayscale_p=0, blur_p=0, noise_p=0, jpeg_p=0)
    still = WindowAugment(AugmentConfig(**plain))(_still_window(), torch.Generator().manual_seed(1))["frames"]
    assert all(torch.equal(f, still[0]) for f in still)
    moved = WindowAugment(AugmentConfig(**plain, jitter_p=1.0, jitter_drift=0.1))
    frames = moved(_still_window(), torch.Generator().manual_seed(1))["frames"].numpy()
    assert len({f.tobytes() for f in frames}) == len(frames)  # every frame framed differently
    # the eye (dark blob) stays near the centre: the wobble is a few pixels, not a new framing
    for f in frames:
        ys, xs = np.nonzero(f.mean(axis=0) < 80)
        assert abs(xs.mean() - 23.5) < 0.25 * 48 and abs(ys.mean() - 23.5) < 0.25 * 48
    # deterministic for a given generator state
    again = moved(_still_window(), torch.Generator().manual_seed(1))["frames"].numpy()
    assert np.array_equal(frames, again)
    # presets without the wobble draw exactly what they drew before it existed
    for name in ("affine", "strong", "default"):
        assert PRESETS[name].jitter_p == 0
    assert PRESETS["affine_wobble"] == dataclasses.replace(PRESETS["affine"], jitter_p=0.5)
    with pytest.raises(ValueError, match="jitter_drift"):
        AugmentConfig(jitter_drift=0.9)
