"""Train BlinkFormer on a manifest dataset: `python -m trainer.fit --data DIR --out RUN`.

    python -m trainer.fit --data DIR [--val DIR] --out RUN [--model NAME] [--epochs N]
                          [--batch-size B] [--lr LR] [--resume] ...   (all flags: --help)
    torchrun --nproc_per_node 2 -m trainer.fit ...                     (DDP; nccl on GPU, gloo on CPU)

Splits: with --val, DIR trains (its `train` rows when it has a split column) and --val
validates. Without it, the `split` column of DIR is used; a dataset without one gets a
subject-disjoint train/val/test split from `manifests.split` (fixed seed), written into its
frames.csv/clips.csv atomically (so `trainer.evaluate --split test` finds the same test set) and
recorded in RUN/split.json. The test split is never read here: best.pt is chosen on validation.

Loss (docs/design.md: original work, without the original's double softmax): w_cls x BCE-with-logits(blink_logit)
+ w_closure x MSE(sigmoid(closure_logit), closure); frames with unknown closure are masked.

RUN/ holds: config.json, split.json, metrics.csv (one row per epoch), steps.csv (one row per
optimiser step), last.pt (every epoch), best.pt (best validation F1, ties -> lower validation
loss; or lowest validation loss), TensorBoard events (when tensorboard is installed).

Checkpoints: trainer/checkpoint.py (format, save, load). Resuming restores all of it; the data
order of epoch e is a function of (seed, e) only, so `--resume` after epoch k repeats the
uninterrupted run's steps. An existing run in RUN is never overwritten silently: without
--resume (continue it) or --overwrite (replace it) fit refuses, and --resume refuses settings
that differ from the checkpoint's (it names each: `lr 0.001 -> 0.01`); only how long and how
the run executes may change (RESUMABLE_CHANGES).
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler

from manifests.cli_errors import one_line_errors
from manifests.io import ManifestError, UnsafePathError, read_frames
from trainer.checkpoint import (CheckpointError, checkpoint_state, get_rng_state, load_checkpoint, plain,
                                save_checkpoint, set_rng_state)
from trainer.config import ConfigError, TrainConfig, build_parser, config_from_args
from trainer.inference import collect_predictions, window_metrics
from trainer.outputs import write_csv as atomic_write_csv, write_text as atomic_write_text


# ------------------------------------------------------------------------------ runtime
def setup_distributed(cfg: TrainConfig) -> tuple[int, int, torch.device]:
    """(rank, world_size, device). torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; alone -> (0, 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cfg.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(cfg.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bf16 autocast on CUDA (no loss scaling needed); off on CPU unless asked (slow there)."""
    if cfg.amp == "bf16" or (cfg.amp == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def lr_lambda(total_steps: int, warmup_steps: int, min_ratio: float):
    """Linear warm-up to 1, then cosine decay to `min_ratio` at `total_steps`."""
    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return f


# ------------------------------------------------------------------------------- splits
def _split_values(root: str) -> pd.Series | None:
    """The `split` column of root/frames.csv (None when absent or all empty)."""
    path = Path(root) / "frames.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: frames.csv not found (is {root} a dataset directory?)")
    frames = read_frames(path)  # schema dtypes; a bad cell is named by file:line
    if "split" not in frames.columns:
        return None
    values = frames["split"].fillna("").astype(str)
    return None if (values == "").all() else values


def write_subject_split(root: str, cfg: TrainConfig) -> dict[str, Any]:
    """Give a dataset without a split column a subject-disjoint one (manifests.split), in place.

    Cells are read and written back as strings, so nothing but the new column changes; clips.csv
    (when present) is written first and frames.csv last, each atomically.
    """
    from manifests.io import read_raw_csv, write_csv
    from manifests.split import split as split_frames

    root_p = Path(root)
    frames = read_raw_csv(root_p / "frames.csv")
    ratios = (1 - cfg.val_ratio - cfg.test_ratio, cfg.val_ratio, cfg.test_ratio)
    frames = split_frames(frames, ratios=ratios, seed=cfg.split_seed)
    clip_split = frames.groupby("clip_id")["split"].first()
    clips_path = root_p / "clips.csv"
    if clips_path.is_file():
        clips = read_raw_csv(clips_path)
        clips["split"] = clips["clip_id"].map(clip_split)
        write_csv(clips, clips_path)
    write_csv(frames, root_p / "frames.csv")
    return dict(ratios=ratios, seed=cfg.split_seed)


def resolve_splits(cfg: TrainConfig, rank: int, world: int) -> dict[str, Any]:
    """Decide (train root, split) and (val root, split); see the module docstring."""
    info: dict[str, Any] = {}
    if cfg.val:
        train_values = _split_values(cfg.data)
        val_values = _split_values(cfg.val)
        info.update(source="val_dir",
                    train=dict(root=cfg.data, split="train" if train_values is not None
                               and (train_values == "train").any() else None),
                    val=dict(root=cfg.val, split="val" if val_values is not None
                             and (val_values == "val").any() else None))
        return info
    values = _split_values(cfg.data)
    if values is None:
        if rank == 0:
            print(f"[fit] {cfg.data}/frames.csv has no split column: writing a subject-disjoint "
                  f"split (seed {cfg.split_seed}) into it", file=sys.stderr)
            info["created"] = write_subject_split(cfg.data, cfg)
        barrier(world)
        values = _split_values(cfg.data)
        info["source"] = "created"
    else:
        info["source"] = "existing"
    counts = values.value_counts().to_dict()
    for needed in ("train", "val"):
        if counts.get(needed, 0) == 0:
            raise ConfigError("val", f"{cfg.data}/frames.csv: column split has no {needed!r} rows "
                                     f"(rows per split: {counts}); pass --val DIR or re-split the "
                                     f"dataset with `python -m manifests split`")
    info["frames_per_split"] = {str(k): int(v) for k, v in counts.items()}
    info["train"] = dict(root=cfg.data, split="train")
    info["val"] = dict(root=cfg.data, split="val")
    return info


def build_dataset(root: str, split: str | None, cfg: TrainConfig, train: bool):
    from trainer.augment import WindowAugment
    from trainer.data import EyeWindowDataset

    augment = WindowAugment(cfg.augment_preset) if train and cfg.augment else None
    ds = EyeWindowDataset(root, window=cfg.window, stride=cfg.stride, crop_size=cfg.crop_size,
                          eyes=tuple(cfg.eyes), split=split, augment=augment,
                          cache=cfg.cache, cache_dir=cfg.cache_dir, seed=cfg.seed)
    if len(ds) == 0:
        raise ConfigError("data", f"{root}: split {split!r} holds no {cfg.window}-frame eye windows")
    return ds


def crop_params(ds) -> dict[str, Any] | None:
    crop = getattr(ds, "crop_cfg", None) or getattr(ds, "crop", None)
    if crop is None:
        return None
    return crop.to_dict() if hasattr(crop, "to_dict") else dict(crop)


# --------------------------------------------------------------------------------- loss
def compute_loss(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], cfg: TrainConfig,
                 pos_weight: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    blink_logit = out["blink_logit"].float()
    blink_true = batch["blink"].float()
    labelled = ~torch.isnan(blink_true)  # real datasets may not know the clip label
    if labelled.all():
        loss_cls = F.binary_cross_entropy_with_logits(blink_logit, blink_true, pos_weight=pos_weight)
    elif labelled.any():
        loss_cls = F.binary_cross_entropy_with_logits(blink_logit[labelled], blink_true[labelled],
                                                      pos_weight=pos_weight)
    else:
        loss_cls = blink_logit.sum() * 0.0
    closure_pred = torch.sigmoid(out["closure_logit"].float())
    closure_true = batch["closure"].float()
    known = ~torch.isnan(closure_true)
    if known.any():
        loss_closure = F.mse_loss(closure_pred[known], closure_true[known])
    else:
        loss_closure = closure_pred.sum() * 0.0  # keeps the graph (DDP needs every parameter used)
    loss = cfg.w_cls * loss_cls + cfg.w_closure * loss_closure
    return loss, {"loss_cls": float(loss_cls.detach()), "loss_closure": float(loss_closure.detach())}


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


# ---------------------------------------------------------------------------------- fit
RUN_FILES = ("last.pt", "best.pt", "metrics.csv", "steps.csv", "summary.json", "split.json")
# how one invocation executes: never taken from a checkpoint
PER_INVOCATION = {"stop_after_epoch", "resume", "overwrite", "progress", "num_workers", "device",
                  "log_every", "threads", "compile", "cache", "cache_dir", "out"}
# what --resume may change: how long and how the run executes, never what it computes
RESUMABLE_CHANGES = PER_INVOCATION | {"epochs"}


@dataclass
class Run:
    """The live objects of one training run, built step by step by `train`."""

    cfg: TrainConfig
    rank: int
    world: int
    device: torch.device
    out: Path
    split_info: dict[str, Any] = field(default_factory=dict)
    train_ds: Any = None
    val_ds: Any = None
    model: torch.nn.Module | None = None
    step_model: torch.nn.Module | None = None  # compiled / DDP-wrapped view of `model`
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    sampler: DistributedSampler | None = None
    per_rank_batch: int = 0
    drop_last: bool = False
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None
    pos_weight: torch.Tensor | None = None
    amp: torch.dtype | None = None
    epoch: int = 0  # completed epochs
    global_step: int = 0
    best: dict[str, Any] = field(default_factory=lambda: {"key": None, "epoch": None, "metrics": None})
    rng_states: list[Any] = field(default_factory=list)
    metrics_rows: list[dict[str, Any]] = field(default_factory=list)
    step_rows: list[dict[str, Any]] = field(default_factory=list)
    writer: Any = None


def _truncate_log(path: Path, column: str, last: int) -> pd.DataFrame | None:
    """Rows of a log CSV up to `last` (rows written after the resumed checkpoint are dropped)."""
    if not path.is_file():
        return None
    df = pd.read_csv(path)
    return df[df[column] <= last]


def resume_differences(saved: TrainConfig, asked: TrainConfig) -> list[str]:
    """`name saved -> asked` for every setting that defines what the run computes and differs."""
    ignore = set(RESUMABLE_CHANGES)
    if saved.balance and asked.balance:
        ignore.add("pos_weight")  # computed from the data by --balance, stored after the start
    a, b = saved.to_dict(), asked.to_dict()
    return [f"{name} {a[name]!r} -> {b[name]!r}" for name in a if name not in ignore and a[name] != b[name]]


def prepare_run_dir(cfg: TrainConfig, rank: int) -> tuple[TrainConfig, dict[str, Any] | None]:
    """(config to run, checkpoint to resume or None). Refuses (ConfigError naming OUT) to train
    over an existing run without --resume or --overwrite, and to resume with settings that
    differ from the checkpoint's."""
    out = Path(cfg.out)
    if not cfg.resume:
        existing = [name for name in RUN_FILES if (out / name).exists()]
        if existing and not cfg.overwrite:
            raise ConfigError("out", f"{out} already holds a run ({', '.join(existing)}); pass --resume to "
                                     "continue it, --overwrite to replace it, or another --out")
        if existing and rank == 0:
            for name in existing:  # --overwrite: no file of the old run may pass for the new one's
                (out / name).unlink()
            shutil.rmtree(out / "tb", ignore_errors=True)
        return cfg, None
    ckpt_last = out / "last.pt"
    if not ckpt_last.is_file():
        raise FileNotFoundError(f"{ckpt_last}: no checkpoint to resume from (--resume)")
    resume_state = load_checkpoint(ckpt_last, resume=True)
    saved = TrainConfig.from_dict(resume_state["config"])
    changed = resume_differences(saved, cfg)
    if changed:
        raise ConfigError("resume", f"{ckpt_last} was trained with other settings: {'; '.join(changed)}. "
                                    "--resume continues a run unchanged: drop those flags, or train "
                                    "a new run in another --out")
    # the run's identity comes from the checkpoint; only how long / how it runs may change
    cfg = TrainConfig.from_dict({**saved.to_dict(), **{k: getattr(cfg, k) for k in RESUMABLE_CHANGES}})
    return cfg, resume_state


def load_data(run: Run) -> None:
    """Resolve the splits (writing one when the dataset has none) and build both datasets."""
    cfg = run.cfg
    seed_everything(cfg.seed)
    run.split_info = resolve_splits(cfg, run.rank, run.world)
    info = run.split_info
    run.train_ds = build_dataset(info["train"]["root"], info["train"]["split"], cfg, train=True)
    run.val_ds = build_dataset(info["val"]["root"], info["val"]["split"], cfg, train=False)
    info["windows"] = dict(train=len(run.train_ds), val=len(run.val_ds))
    if run.rank == 0:
        atomic_write_text(run.out / "split.json", json.dumps(info, indent=2) + "\n")


def build_model(run: Run) -> None:
    from trainer.models import create_model

    cfg = run.cfg
    run.model_kwargs = dict(crop_size=cfg.crop_size, window=cfg.window)
    seed_everything(cfg.seed)  # same initial weights on every rank and every run
    run.model = create_model(cfg.model, **run.model_kwargs).to(run.device)
    run.step_model = run.model
    if cfg.compile:
        run.step_model = torch.compile(run.step_model)
    if run.world > 1:
        run.step_model = torch.nn.parallel.DistributedDataParallel(
            run.step_model, device_ids=[run.device.index] if run.device.type == "cuda" else None)


def build_optimizer(run: Run) -> None:
    """Sampler and batch geometry, AdamW, the warm-up + cosine schedule, the loss's pos_weight."""
    cfg = run.cfg
    run.per_rank_batch = cfg.batch_size // run.world
    run.sampler = DistributedSampler(run.train_ds, num_replicas=run.world, rank=run.rank, shuffle=True,
                                     seed=cfg.seed)
    n = len(run.sampler)
    # a last batch of one window breaks BatchNorm (the CNN variants) and is noise anyway: drop it
    run.drop_last = n % run.per_rank_batch == 1 and n > 1
    steps_per_epoch = n // run.per_rank_batch if run.drop_last else math.ceil(n / run.per_rank_batch)
    total_steps = cfg.epochs * steps_per_epoch
    warmup_steps = round(cfg.warmup_epochs * steps_per_epoch)
    run.optimizer = torch.optim.AdamW(run.model.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                                      weight_decay=cfg.weight_decay)
    run.scheduler = torch.optim.lr_scheduler.LambdaLR(
        run.optimizer, lr_lambda(total_steps, warmup_steps, cfg.min_lr_ratio))
    if cfg.balance:
        balance = run.train_ds.class_balance()
        if not math.isfinite(balance["pos_weight"]):
            raise ConfigError("balance", f"no blink windows in the training split ({balance})")
        cfg.pos_weight = float(balance["pos_weight"])
        if run.rank == 0:
            print(f"[fit] class balance {balance}: pos_weight {cfg.pos_weight:.3f}", file=sys.stderr)
    run.pos_weight = torch.tensor(cfg.pos_weight, device=run.device) if cfg.pos_weight else None
    run.amp = amp_dtype(cfg, run.device)


def restore(run: Run, resume_state: dict[str, Any]) -> None:
    """Model, optimiser, schedule, counters, best and this rank's RNG from a checkpoint."""
    run.model.load_state_dict(resume_state["model"])
    run.optimizer.load_state_dict(resume_state["optimizer"])
    run.scheduler.load_state_dict(resume_state["scheduler"])
    run.epoch, run.global_step = int(resume_state["epoch"]), int(resume_state["global_step"])
    run.best = resume_state["best"]
    run.rng_states = resume_state["rng"]
    if len(run.rng_states) != run.world:
        print(f"[fit] resuming a {len(run.rng_states)}-process run with {run.world} processes: "
              f"RNG streams differ from the original", file=sys.stderr)
    set_rng_state(run.rng_states[run.rank % len(run.rng_states)])


def open_logs(run: Run, resuming: bool) -> None:
    """metrics/steps rows (of a resumed run, up to its checkpoint) and TensorBoard, rank 0 only."""
    if run.rank != 0:
        return
    old = _truncate_log(run.out / "metrics.csv", "epoch", run.epoch) if resuming else None
    run.metrics_rows = old.to_dict("records") if old is not None else []
    old = _truncate_log(run.out / "steps.csv", "step", run.global_step) if resuming else None
    run.step_rows = old.to_dict("records") if old is not None else []
    try:
        from torch.utils.tensorboard import SummaryWriter
        run.writer = SummaryWriter(str(run.out / "tb"), purge_step=run.global_step if resuming else None)
    except Exception:  # tensorboard is optional
        run.writer = None


def train_epoch(run: Run, epoch: int) -> list[float]:
    """One pass over this rank's shard of the training set; returns the step losses."""
    from tqdm.auto import tqdm

    cfg, device = run.cfg, run.device
    run.sampler.set_epoch(epoch)  # data order = f(seed, epoch): resumable without saving positions
    run.train_ds.set_epoch(epoch)  # augmentation stream = f(seed, epoch, index): likewise
    loader = DataLoader(run.train_ds, batch_size=run.per_rank_batch, sampler=run.sampler,
                        drop_last=run.drop_last, num_workers=cfg.num_workers,
                        pin_memory=device.type == "cuda", persistent_workers=False,
                        generator=torch.Generator().manual_seed(cfg.seed * 100003 + epoch * 1009 + run.rank))
    run.step_model.train()
    losses = []
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
               disable=not (cfg.progress and run.rank == 0))
    for batch in bar:
        batch = _to_device(batch, device)
        with autocast(device, run.amp):
            out_t = run.step_model(batch["frames"])
        loss, parts = compute_loss(out_t, batch, cfg, run.pos_weight)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(
            run.model.parameters(), cfg.grad_clip if cfg.grad_clip else float("inf"))
        run.optimizer.step()
        run.scheduler.step()
        run.global_step += 1
        loss_value = loss.detach()
        if run.world > 1:  # the loss every rank's step actually optimised: the mean over ranks
            loss_value = loss_value.clone()
            dist.all_reduce(loss_value)
            loss_value /= run.world
        loss_value = float(loss_value)
        losses.append(loss_value)
        if run.rank == 0:
            lr_now = run.optimizer.param_groups[0]["lr"]
            run.step_rows.append(dict(epoch=epoch + 1, step=run.global_step, loss=loss_value,
                                      lr=lr_now, grad_norm=float(grad_norm), **parts))
            if run.global_step % cfg.log_every == 0:
                bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr_now:.2e}")
                if run.writer:
                    run.writer.add_scalar("train/loss", loss_value, run.global_step)
                    run.writer.add_scalar("train/lr", lr_now, run.global_step)
    return losses


def validate(run: Run) -> dict[str, Any]:
    """Metrics over the whole validation set, on rank 0 ({} elsewhere: other ranks wait)."""
    if run.rank != 0:
        return {}
    cfg = run.cfg
    preds = collect_predictions(run.model, run.val_ds, device=run.device, batch_size=run.per_rank_batch * 2,
                                amp=run.amp, num_workers=cfg.num_workers)
    val_metrics = window_metrics(preds, threshold=cfg.threshold)
    val_metrics["loss"] = float(np.nansum([cfg.w_cls * preds["loss_cls"], cfg.w_closure * preds["loss_closure"]]))
    return val_metrics


def gather_rng_states(world: int) -> list[Any]:
    """Every rank's RNG state (saved so that --resume continues each rank's streams)."""
    states = [get_rng_state()]
    if world > 1:
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, states[0])
        states = gathered
    return states


def is_new_best(run: Run, val_metrics: dict[str, Any]) -> bool:
    """Select on validation F1 (ties -> lower loss) or loss; updates run.best."""
    if run.cfg.select_on == "f1":
        f1 = val_metrics["clip"]["f1"]  # NaN when val has no blink labels: loss decides
        key = [f1 if math.isfinite(f1) else -1.0, -val_metrics["loss"]]
    else:
        key = [-val_metrics["loss"]]
    is_best = run.best["key"] is None or key > run.best["key"]
    if is_best:
        run.best = {"key": key, "epoch": run.epoch, "metrics": _flat(val_metrics)}
    return is_best


def end_epoch(run: Run, losses: list[float], val_metrics: dict[str, Any], started: float) -> dict[str, Any]:
    """Rank 0: choose best, append the logs, write last.pt (and best.pt); returns the summary."""
    cfg, out, epoch = run.cfg, run.out, run.epoch
    is_best = is_new_best(run, val_metrics)
    row = dict(epoch=epoch, step=run.global_step, train_loss=float(np.mean(losses)),
               val_loss=val_metrics["loss"], val_f1=val_metrics["clip"]["f1"],
               val_precision=val_metrics["clip"]["precision"],
               val_recall=val_metrics["clip"]["recall"], val_auroc=val_metrics["clip"]["auroc"],
               val_closure_mae=val_metrics["closure_mae"],
               lr=run.optimizer.param_groups[0]["lr"], epoch_s=round(time.time() - started, 3),
               best=int(is_best))
    run.metrics_rows.append(row)
    atomic_write_csv(pd.DataFrame(run.metrics_rows), out / "metrics.csv")
    atomic_write_csv(pd.DataFrame(run.step_rows), out / "steps.csv")
    if run.writer:
        for k, v in row.items():
            if k.startswith("val_") or k == "train_loss":
                run.writer.add_scalar(k.replace("_", "/", 1), v, run.global_step)
        run.writer.flush()
    state = checkpoint_state(run.model, cfg.model, run.model_kwargs, crop_params(run.train_ds),
                             config=cfg.to_dict(), split=plain(run.split_info), epoch=epoch,
                             global_step=run.global_step, optimizer=run.optimizer.state_dict(),
                             scheduler=run.scheduler.state_dict(), best=run.best, rng=run.rng_states,
                             val_metrics=_flat(val_metrics))
    save_checkpoint(state, out / "last.pt")
    if is_best:
        save_checkpoint(state, out / "best.pt")
    if cfg.progress:
        print(f"[fit] epoch {epoch}/{cfg.epochs} train_loss {row['train_loss']:.4f} "
              f"val_loss {row['val_loss']:.4f} val_f1 {row['val_f1']:.3f} "
              f"val_auroc {row['val_auroc']:.3f} val_closure_mae {row['val_closure_mae']:.3f}"
              f"{' *' if is_best else ''}", file=sys.stderr)
    return dict(epoch=epoch, step=run.global_step, val=_flat(val_metrics), best_epoch=run.best["epoch"])


def finish(run: Run, summary: dict[str, Any], last_epoch: int) -> dict[str, Any]:
    if run.rank == 0:
        summary.update(best=run.best, run=str(run.out), world_size=run.world, device=str(run.device),
                       finished=last_epoch == run.cfg.epochs)
        atomic_write_text(run.out / "summary.json", json.dumps(plain(summary), indent=2) + "\n")
        if run.writer:
            run.writer.close()
    if run.world > 1:
        barrier(run.world)
        dist.destroy_process_group()
    return summary


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) training; returns the final summary (also RUN/summary.json on rank 0)."""
    cfg.validate()
    rank, world, device = setup_distributed(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.batch_size % world:
        raise ConfigError("batch_size", f"global batch {cfg.batch_size} is not divisible by "
                                        f"{world} processes")
    cfg, resume_state = prepare_run_dir(cfg, rank)
    run = Run(cfg=cfg, rank=rank, world=world, device=device, out=Path(cfg.out))
    if rank == 0:
        run.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run.out / "config.json", cfg.to_json() + "\n")
    barrier(world)

    load_data(run)
    build_model(run)
    build_optimizer(run)
    if resume_state is not None:
        restore(run, resume_state)
    open_logs(run, resuming=resume_state is not None)

    summary: dict[str, Any] = {}
    last_epoch = cfg.epochs if cfg.stop_after_epoch is None else min(cfg.epochs, cfg.stop_after_epoch)
    for epoch in range(run.epoch, last_epoch):
        started = time.time()
        losses = train_epoch(run, epoch)
        val_metrics = validate(run)
        run.rng_states = gather_rng_states(world)
        run.epoch = epoch + 1
        if rank == 0:
            summary = end_epoch(run, losses, val_metrics, started)
        barrier(world)
    return finish(run, summary, last_epoch)


def _flat(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested metric dicts -> {"clip/f1": ..., "closure_mae": ...} of plain floats."""
    flat = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            flat.update(_flat(v, f"{prefix}{k}/"))
        elif isinstance(v, (int, float, np.integer, np.floating)):
            flat[f"{prefix}{k}"] = float(v)
    return flat


@one_line_errors(ConfigError, CheckpointError, ManifestError, UnsafePathError, OSError)
def main(argv: list[str] | None = None) -> int:
    parser = build_parser(__doc__.split("\n\n")[0])
    args = parser.parse_args(argv)
    if args.resume and (Path(args.out) / "last.pt").is_file():
        # flags not given take the checkpoint's values, not the defaults (PER_INVOCATION excepted)
        explicit = vars(build_parser(defaults=False).parse_args(argv))
        saved = TrainConfig.from_dict(load_checkpoint(Path(args.out) / "last.pt", resume=True)["config"])
        this_call = {k: getattr(args, k) for k in PER_INVOCATION}
        cfg = TrainConfig.from_dict({**saved.to_dict(), **this_call, **explicit}).validate()
    else:
        cfg = config_from_args(args)
    summary = train(cfg)
    if summary.get("best") and int(os.environ.get("RANK", "0")) == 0:
        m = summary["best"]["metrics"]
        print(f"best epoch {summary['best']['epoch']}: val F1 {m['clip/f1']:.3f} AUROC {m['clip/auroc']:.3f} "
              f"closure MAE {m['closure_mae']:.3f} loss {m['loss']:.4f}; checkpoints in {summary['run']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
