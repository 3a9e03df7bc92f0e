"""trainer.fit: learns on tiny synthetic data, resumes exactly, splits by subject, DDP semantics."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from trainer.config import ConfigError, TrainConfig
from trainer.checkpoint import load_checkpoint
from trainer.evaluate import evaluate
from trainer.fit import main as fit_main
from trainer.fit import train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def learnable_dataset(tmp_path_factory):
    """6 subjects x 4 clips (half with a blink) of 13 frames, with a subject-disjoint split."""
    from manifests.synthetic import write_tiny_dataset

    return write_tiny_dataset(tmp_path_factory.mktemp("learnable") / "data", n_subjects=6,
                              clips_per_subject=4, size=64, seed=3, split=True)


def quick_config(data, out, **kw) -> TrainConfig:
    """A setting that learns in seconds on 2 busy cores (measured): tiny model, lr 1e-3, one thread."""
    base = dict(data=str(data), out=str(out), model="blinkformer_tiny", epochs=6, batch_size=8,
                lr=1e-3, warmup_epochs=1.0, augment=False, threads=1, progress=False, seed=0)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.slow
def test_short_training_beats_chance_on_held_out_clips(learnable_dataset, tmp_path):
    run = tmp_path / "run"
    summary = train(quick_config(learnable_dataset, run, epochs=15))
    assert summary["finished"] and (run / "best.pt").is_file() and (run / "last.pt").is_file()
    assert json.loads((run / "config.json").read_text())["lr"] == 1e-3
    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics["epoch"]) == list(range(1, 16))
    assert metrics["train_loss"].iloc[-1] < metrics["train_loss"].iloc[0]

    report = evaluate(str(run / "best.pt"), str(learnable_dataset), "test", str(tmp_path / "test.json"))
    frames = pd.read_csv(learnable_dataset / "frames.csv")
    test = frames[frames["split"] == "test"]
    train_frames = frames[frames["split"] == "train"]
    # chance: AUROC 0.5; always predicting the training mean closure gives this MAE
    constant_mae = float(np.abs(test[["left_closure", "right_closure"]].to_numpy()
                                - train_frames[["left_closure", "right_closure"]].to_numpy().mean()).mean())
    assert report["windows"] == 2 * test["clip_id"].nunique()
    assert report["clip"]["auroc"] >= 0.9, report["clip"]
    assert report["clip"]["f1"] >= 0.8, report["clip"]
    assert report["closure_mae"] < 0.6 * constant_mae, (report["closure_mae"], constant_mae)


def test_resume_reproduces_the_uninterrupted_run_exactly(learnable_dataset, tmp_path):
    full = quick_config(learnable_dataset, tmp_path / "full", epochs=3)
    train(full)
    cut = quick_config(learnable_dataset, tmp_path / "cut", epochs=3, stop_after_epoch=1)
    s1 = train(cut)
    assert not s1["finished"]
    assert len(pd.read_csv(tmp_path / "cut" / "metrics.csv")) == 1
    s2 = train(quick_config(learnable_dataset, tmp_path / "cut", epochs=3, resume=True))
    assert s2["finished"]

    a = pd.read_csv(tmp_path / "full" / "steps.csv")
    b = pd.read_csv(tmp_path / "cut" / "steps.csv")
    assert list(a["step"]) == list(b["step"]) == list(range(1, len(a) + 1))
    np.testing.assert_array_equal(a["loss"].to_numpy(), b["loss"].to_numpy())  # exact, not approximate
    np.testing.assert_array_equal(a["lr"].to_numpy(), b["lr"].to_numpy())
    wa = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    wb = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    for k in wa["model"]:
        assert torch.equal(wa["model"][k], wb["model"][k]), k
    assert wa["best"] == wb["best"]


def test_resume_after_a_crash_drops_log_rows_newer_than_the_checkpoint(learnable_dataset, tmp_path):
    run = tmp_path / "run"
    train(quick_config(learnable_dataset, run, epochs=2, stop_after_epoch=1))
    steps = pd.read_csv(run / "steps.csv")
    # a crash in epoch 2 after some steps were logged: those rows must not be duplicated
    junk = steps.copy()
    junk["step"] += len(steps)
    junk["epoch"] = 2
    pd.concat([steps, junk]).to_csv(run / "steps.csv", index=False)
    train(quick_config(learnable_dataset, run, epochs=2, resume=True))
    steps2 = pd.read_csv(run / "steps.csv")
    assert list(steps2["step"]) == list(range(1, 2 * len(steps) + 1))


def test_missing_split_gets_a_subject_disjoint_split_written_and_recorded(learnable_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(learnable_dataset, data, ignore=shutil.ignore_patterns(".cache"))
    frames = pd.read_csv(data / "frames.csv").drop(columns=["split"])
    frames.to_csv(data / "frames.csv", index=False)
    pd.read_csv(data / "clips.csv").drop(columns=["split"]).to_csv(data / "clips.csv", index=False)
    before = pd.read_csv(data / "frames.csv", dtype=str, keep_default_na=False)

    train(quick_config(data, tmp_path / "run", epochs=1))
    after = pd.read_csv(data / "frames.csv", dtype=str, keep_default_na=False)
    # nothing but the new column changed, cell for cell
    pd.testing.assert_frame_equal(after.drop(columns=["split"]), before)
    per_subject = after.groupby("subject_id")["split"].nunique()
    assert (per_subject == 1).all()  # no subject in two splits
    assert set(after["split"]) == {"train", "val", "test"}
    info = json.loads((tmp_path / "run" / "split.json").read_text())
    assert info["source"] == "created" and info["windows"]["val"] > 0
    ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    assert ckpt["split"]["val"]["split"] == "val"
    umask = os.umask(0)
    os.umask(umask)
    for name in ("frames.csv", "clips.csv"):  # shared like any file, not mkstemp's 0600
        assert (data / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_separate_val_dir_is_used(learnable_dataset, tmp_path):
    summary = train(quick_config(learnable_dataset, tmp_path / "run", epochs=1, val=str(learnable_dataset)))
    info = json.loads((tmp_path / "run" / "split.json").read_text())
    assert info["source"] == "val_dir"
    assert info["train"]["split"] == "train" and info["val"]["split"] == "val"
    assert summary["finished"]


def test_bad_config_and_missing_data_give_clear_errors(tmp_path, capsys):
    assert fit_main(["--data", str(tmp_path), "--out", str(tmp_path / "r"), "--batch-size", "0"]) == 2
    assert capsys.readouterr().err == "error: batch_size: must be a positive integer, got 0\n"
    with pytest.raises(ConfigError, match="amp"):
        TrainConfig(data="x", amp="fp8").validate()
    with pytest.raises(FileNotFoundError, match="frames.csv"):
        train(quick_config(tmp_path / "nowhere", tmp_path / "r"))
    with pytest.raises(FileNotFoundError, match="last.pt"):
        train(quick_config(tmp_path / "nowhere", tmp_path / "r2", resume=True))


def test_flags_get_the_type_of_their_field():
    from trainer.config import build_parser, config_from_args

    args = build_parser().parse_args(["--data", "d", "--stride", "4", "--pos-weight", "2.5", "--cache-dir", "7",
                                      "--eyes", "left", "--no-augment", "--threads", "1"])
    cfg = config_from_args(args)
    assert (cfg.stride, cfg.pos_weight, cfg.cache_dir, cfg.eyes, cfg.augment, cfg.threads) == (
        4, 2.5, "7", ("left",), False, 1)
    assert type(cfg.stride) is int and type(cfg.pos_weight) is float and type(cfg.lr) is float
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--window", "1.5"])  # an int field refuses a float


def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for f in fragments:
        assert f in err, err
    return err


@pytest.mark.parametrize("argv,fragments", [
    (["--lr", "nan"], ["lr: must be a finite number, got nan"]),
    (["--lr", "inf"], ["lr: must be a finite number"]),
    (["--model", "no_such_model"], ["model: unknown model 'no_such_model'; available: blinkformer_"]),
    (["--threshold", "2"], ["threshold: must be in [0, 1]"]),
], ids=["lr_nan", "lr_inf", "unknown_model", "threshold"])
def test_bad_flags_are_one_line_errors_before_any_data_is_read(tmp_path, capsys, argv, fragments):
    # --data does not exist: the flag must be refused first, without reading anything
    assert fit_main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"), *argv]) == 2
    _one_line_error(capsys, *fragments)
    assert not (tmp_path / "r").exists()


def test_missing_data_is_a_one_line_error(tmp_path, capsys):
    assert fit_main(["--out", str(tmp_path / "r")]) == 2
    _one_line_error(capsys, "data: a dataset directory is required")
    assert fit_main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 2
    _one_line_error(capsys, f"{tmp_path / 'nowhere' / 'frames.csv'}: frames.csv not found")


def _copy(dataset, dst):
    shutil.copytree(dataset, dst, ignore=shutil.ignore_patterns(".cache"))
    return dst


def test_unreadable_frame_and_bad_manifest_are_one_line_errors(learnable_dataset, tmp_path, capsys):
    data = _copy(learnable_dataset, tmp_path / "data")
    frames = pd.read_csv(data / "frames.csv", dtype=str, keep_default_na=False)
    (data / frames["image"][3]).write_bytes(b"")  # FrameReadError while cutting crops
    args = ["--out", str(tmp_path / "r"), "--no-progress", "--threads", "1", "--epochs", "1"]
    assert fit_main(["--data", str(data), *args]) == 2
    _one_line_error(capsys, frames["image"][3])

    data = _copy(learnable_dataset, tmp_path / "data2")
    lines = (data / "frames.csv").read_text().splitlines(keepends=True)
    lines[7] = ",".join(lines[7].split(",")[:25]) + "\n"  # a ragged row: 25 fields
    (data / "frames.csv").write_text("".join(lines))
    assert fit_main(["--data", str(data), *args]) == 2
    _one_line_error(capsys, f"{data / 'frames.csv'}:8: 25 fields where the header has")


def test_image_path_leaving_the_dataset_is_refused(learnable_dataset, tmp_path, capsys):
    data = _copy(learnable_dataset, tmp_path / "data")
    frames = pd.read_csv(data / "frames.csv", dtype=str, keep_default_na=False)
    shutil.copy(data / frames["image"][5], tmp_path / "outside.png")
    frames.loc[5, "image"] = "frames/../../outside.png"
    frames.to_csv(data / "frames.csv", index=False)
    assert fit_main(["--data", str(data), "--out", str(tmp_path / "r"), "--no-progress", "--epochs", "1"]) == 2
    _one_line_error(capsys, f"{data / 'frames.csv'}:7: image: 'frames/../../outside.png' contains '..'")


def _run_files(run):
    return {name: (run / name).read_bytes() for name in ("best.pt", "last.pt", "metrics.csv", "steps.csv")}


def test_existing_run_is_not_overwritten_without_resume_or_overwrite(learnable_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    train(quick_config(learnable_dataset, run, epochs=1))
    before = _run_files(run)
    argv = ["--data", str(learnable_dataset), "--out", str(run), "--epochs", "1", "--batch-size", "8",
            "--no-augment", "--threads", "1", "--no-progress"]
    assert fit_main(argv) == 2
    _one_line_error(capsys, f"out: {run} already holds a run (last.pt, best.pt, metrics.csv, steps.csv",
                    "--resume", "--overwrite")
    assert _run_files(run) == before  # nothing lost
    assert fit_main([*argv, "--overwrite", "--lr", "3e-3"]) == 0
    assert json.loads((run / "config.json").read_text())["lr"] == 3e-3
    assert load_checkpoint(run / "last.pt")["config"]["lr"] == 3e-3


def test_resume_refuses_changed_settings_naming_each(learnable_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    train(quick_config(learnable_dataset, run, epochs=2, stop_after_epoch=1))
    before = _run_files(run)
    changed = ["--lr", "0.01", "--model", "blinkformer_small", "--window", "7", "--batch-size", "4"]
    assert fit_main(["--data", str(learnable_dataset), "--out", str(run), "--resume", *changed]) == 2
    _one_line_error(capsys, f"{run / 'last.pt'} was trained with other settings: ",
                    "window 13 -> 7", "model 'blinkformer_tiny' -> 'blinkformer_small'",
                    "batch_size 8 -> 4", "lr 0.001 -> 0.01")
    assert _run_files(run) == before
    # flags left out take the checkpoint's values (not the defaults), so a bare --resume continues
    assert fit_main(["--out", str(run), "--resume", "--no-progress", "--threads", "1"]) == 0
    assert len(pd.read_csv(run / "metrics.csv")) == 2


def test_truncated_or_malicious_checkpoint_is_refused_naming_the_path(learnable_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    train(quick_config(learnable_dataset, run, epochs=2, stop_after_epoch=1))
    last = run / "last.pt"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])
    assert fit_main(["--data", str(learnable_dataset), "--out", str(run), "--resume", "--no-progress"]) == 2
    _one_line_error(capsys, f"{last}: not a readable checkpoint, truncated or not a torch file")

    from trainer.evaluate import main as evaluate_main

    report = ["--data", str(learnable_dataset), "--report", str(tmp_path / "r.json")]
    assert evaluate_main(["--checkpoint", str(last), *report]) == 2
    _one_line_error(capsys, f"{last}: not a readable checkpoint")

    class Payload:  # unpickling this would run a shell command
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'PWNED'}",))

    evil = tmp_path / "evil.pt"
    torch.save({"model": Payload(), "model_name": "blinkformer_tiny", "model_kwargs": {}}, evil)
    assert evaluate_main(["--checkpoint", str(evil), *report]) == 2
    _one_line_error(capsys, f"{evil}: refused: it holds pickled Python objects", "posix.system")
    assert not (tmp_path / "PWNED").exists()
    assert not (tmp_path / "r.json").exists()


def test_loss_is_bce_on_logits_plus_mse_on_sigmoid_closure():
    from trainer.fit import compute_loss

    cfg = TrainConfig(data="x", w_cls=0.1, w_closure=0.9)
    out = {"blink_logit": torch.tensor([2.0, -1.0]), "closure_logit": torch.tensor([[0.0, 1.0], [-2.0, 0.5]])}
    batch = {"blink": torch.tensor([1.0, 0.0]), "closure": torch.tensor([[0.5, 1.0], [0.0, float("nan")]])}
    loss, parts = compute_loss(out, batch, cfg)
    bce = (np.log1p(np.exp(-2.0)) + np.log1p(np.exp(-1.0))) / 2  # -log sigmoid(2), -log(1 - sigmoid(-1))
    sig = 1 / (1 + np.exp(-np.array([0.0, 1.0, -2.0])))
    mse = np.mean((sig - np.array([0.5, 1.0, 0.0])) ** 2)  # the NaN frame is masked
    assert parts["loss_cls"] == pytest.approx(bce, rel=1e-5)
    assert parts["loss_closure"] == pytest.approx(mse, rel=1e-5)
    assert float(loss) == pytest.approx(0.1 * bce + 0.9 * mse, rel=1e-5)


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_single_process_steps(learnable_dataset, tmp_path):
    """Global batch 8 as 2 x 4 over gloo must take the same optimiser steps as 1 x 8."""
    n_train = 2 * pd.read_csv(learnable_dataset / "frames.csv").query("split == 'train'")["clip_id"].nunique()
    batch = 8
    assert n_train % batch == 0  # equal shards and full batches, so the two runs see the same data
    common = ["--data", str(learnable_dataset), "--model", "blinkformer_tiny", "--epochs", "1",
              "--batch-size", str(batch), "--lr", "1e-3", "--no-augment", "--threads", "1",
              "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    single = tmp_path / "single"
    assert fit_main([*common, "--out", str(single)]) == 0  # in-process: one interpreter start less
    ddp = tmp_path / "ddp"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "trainer.fit", *common, "--out", str(ddp)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = pd.read_csv(single / "steps.csv"), pd.read_csv(ddp / "steps.csv")
    assert len(a) == len(b) == n_train // batch
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-4, atol=1e-6)
    ckpt = torch.load(ddp / "last.pt", weights_only=True)
    assert len(ckpt["rng"]) == 2  # every rank's RNG state is saved for an exact resume
    ma, mb = pd.read_csv(single / "metrics.csv"), pd.read_csv(ddp / "metrics.csv")
    np.testing.assert_allclose(ma["val_loss"], mb["val_loss"], rtol=1e-4)
