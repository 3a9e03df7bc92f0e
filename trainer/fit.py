"""Train BlinkFormer on a manifest dataset: `python -m trainer.fit --data DIR --out RUN`.

    python -m trainer.fit --data DIR [--val DIR] --out RUN [--model NAME] [--epochs N]
                          [--batch-size B] [--lr LR] [--resume] ...   (all flags: --help)
    torchrun --nproc_per_node 2 -m trainer.fit ...                     (DDP; nccl on GPU, gloo on CPU)

Splits: with --val, DIR trains (its `train` rows when it has a split column) and --val
validates. Without it, the `split` column of DIR is used; a dataset without one gets a
subject-disjoint train/val/test split from `manifests.split` (fixed seed), written into its
frames.csv/clips.csv atomically (so `trainer.evaluate --split test` finds the same test set) and
recorded in RUN/split.json. The test split is never read here: best.pt is chosen on validation.

Loss (DESIGN.md 4, without the original's double softmax): w_cls x BCE-with-logits(blink_logit)
+ w_closure x MSE(sigmoid(closure_logit), closure); frames with unknown closure are masked.

RUN/ holds: config.json, split.json, metrics.csv (one row per epoch), steps.csv (one row per
optimiser step), last.pt (every epoch), best.pt (best validation F1, ties -> lower validation
loss; or lowest validation loss), TensorBoard events (when tensorboard is installed).

A checkpoint is a dict loadable with `torch.load(weights_only=True)`: model (state dict),
model_name, model_kwargs, default_cfg, crop (crop parameters of the data), config, epoch
(completed epochs), global_step, optimizer, scheduler, best, rng (python/numpy/torch/cuda
states of every rank), val_metrics. Resuming restores all of it; the data order of epoch e is a
function of (seed, e) only, so `--resume` after epoch k repeats the uninterrupted run's steps.
"""
from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler

from trainer.config import ConfigError, TrainConfig, build_parser, config_from_args
from trainer.evaluate import collect_predictions, window_metrics
from trainer.outputs import torch_save as atomic_torch_save, write_csv as atomic_write_csv, write_text as atomic_write_text

CHECKPOINT_VERSION = 1


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


def get_rng_state() -> dict[str, Any]:
    """RNG states as tensors/tuples so that checkpoints load with weights_only=True."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached)}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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
    header = pd.read_csv(path, nrows=0).columns
    if "split" not in header:
        return None
    values = pd.read_csv(path, usecols=["split"], dtype=str, keep_default_na=False)["split"]
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
def _truncate_log(path: Path, column: str, last: int) -> pd.DataFrame | None:
    """Rows of a log CSV up to `last` (rows written after the resumed checkpoint are dropped)."""
    if not path.is_file():
        return None
    df = pd.read_csv(path)
    return df[df[column] <= last]


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) training; returns the final summary (also RUN/summary.json on rank 0)."""
    cfg.validate()
    rank, world, device = setup_distributed(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.batch_size % world:
        raise ConfigError("batch_size", f"global batch {cfg.batch_size} is not divisible by "
                                        f"{world} processes")
    out = Path(cfg.out)
    ckpt_last = out / "last.pt"
    resume_state = None
    if cfg.resume:
        if not ckpt_last.is_file():
            raise FileNotFoundError(f"{ckpt_last}: no checkpoint to resume from (--resume)")
        resume_state = torch.load(ckpt_last, map_location="cpu", weights_only=True)
        saved = TrainConfig.from_dict(resume_state["config"])
        # the run's identity comes from the checkpoint; only how long / how it runs may change
        keep = {"epochs", "stop_after_epoch", "resume", "progress", "num_workers", "device", "log_every",
                "threads"}
        cfg = TrainConfig.from_dict({**saved.to_dict(), **{k: getattr(cfg, k) for k in keep}})
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.json", cfg.to_json() + "\n")
    barrier(world)

    seed_everything(cfg.seed)
    split_info = resolve_splits(cfg, rank, world)
    train_ds = build_dataset(split_info["train"]["root"], split_info["train"]["split"], cfg, train=True)
    val_ds = build_dataset(split_info["val"]["root"], split_info["val"]["split"], cfg, train=False)
    split_info["windows"] = dict(train=len(train_ds), val=len(val_ds))
    if rank == 0:
        atomic_write_text(out / "split.json", json.dumps(split_info, indent=2) + "\n")

    from trainer.models import create_model
    model_kwargs = dict(crop_size=cfg.crop_size, window=cfg.window)
    seed_everything(cfg.seed)  # same initial weights on every rank and every run
    model = create_model(cfg.model, **model_kwargs).to(device)
    step_model: torch.nn.Module = model
    if cfg.compile:
        step_model = torch.compile(step_model)
    if world > 1:
        step_model = torch.nn.parallel.DistributedDataParallel(
            step_model, device_ids=[device.index] if device.type == "cuda" else None)

    per_rank_batch = cfg.batch_size // world
    sampler = DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed)
    # a last batch of one window breaks BatchNorm (the CNN variants) and is noise anyway: drop it
    drop_last = len(sampler) % per_rank_batch == 1 and len(sampler) > 1
    steps_per_epoch = len(sampler) // per_rank_batch if drop_last else math.ceil(len(sampler) / per_rank_batch)
    total_steps = cfg.epochs * steps_per_epoch
    warmup_steps = round(cfg.warmup_epochs * steps_per_epoch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                                  weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(total_steps, warmup_steps, cfg.min_lr_ratio))
    if cfg.balance:
        balance = train_ds.class_balance()
        if not math.isfinite(balance["pos_weight"]):
            raise ConfigError("balance", f"no blink windows in the training split ({balance})")
        cfg.pos_weight = float(balance["pos_weight"])
        if rank == 0:
            print(f"[fit] class balance {balance}: pos_weight {cfg.pos_weight:.3f}", file=sys.stderr)
    pos_weight = torch.tensor(cfg.pos_weight, device=device) if cfg.pos_weight else None
    dtype = amp_dtype(cfg, device)

    start_epoch, global_step = 0, 0
    best: dict[str, Any] = {"key": None, "epoch": None, "metrics": None}
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        optimizer.load_state_dict(resume_state["optimizer"])
        scheduler.load_state_dict(resume_state["scheduler"])
        start_epoch, global_step = int(resume_state["epoch"]), int(resume_state["global_step"])
        best = resume_state["best"]
        rng_states = resume_state["rng"]
        if len(rng_states) != world:
            print(f"[fit] resuming a {len(rng_states)}-process run with {world} processes: "
                  f"RNG streams differ from the original", file=sys.stderr)
        set_rng_state(rng_states[rank % len(rng_states)])

    writer = None
    metrics_rows: list[dict[str, Any]] = []
    step_rows: list[dict[str, Any]] = []
    if rank == 0:
        old = _truncate_log(out / "metrics.csv", "epoch", start_epoch) if resume_state else None
        metrics_rows = old.to_dict("records") if old is not None else []
        old = _truncate_log(out / "steps.csv", "step", global_step) if resume_state else None
        step_rows = old.to_dict("records") if old is not None else []
        try:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(out / "tb"), purge_step=global_step if resume_state else None)
        except Exception:  # tensorboard is optional
            writer = None

    from tqdm.auto import tqdm
    summary: dict[str, Any] = {}
    last_epoch = cfg.epochs if cfg.stop_after_epoch is None else min(cfg.epochs, cfg.stop_after_epoch)
    for epoch in range(start_epoch, last_epoch):
        t0 = time.time()
        sampler.set_epoch(epoch)  # data order = f(seed, epoch): resumable without saving positions
        train_ds.set_epoch(epoch)  # augmentation stream = f(seed, epoch, index): likewise
        loader = DataLoader(train_ds, batch_size=per_rank_batch, sampler=sampler, drop_last=drop_last,
                            num_workers=cfg.num_workers, pin_memory=device.type == "cuda",
                            persistent_workers=False,
                            generator=torch.Generator().manual_seed(cfg.seed * 100003 + epoch * 1009 + rank))
        step_model.train()
        losses = []
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=not (cfg.progress and rank == 0))
        for batch in bar:
            batch = _to_device(batch, device)
            with autocast(device, dtype):
                out_t = step_model(batch["frames"])
            loss, parts = compute_loss(out_t, batch, cfg, pos_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(
                model.parameters(), cfg.grad_clip if cfg.grad_clip else float("inf"))
            optimizer.step()
            scheduler.step()
            global_step += 1
            loss_value = loss.detach()
            if world > 1:  # the loss every rank's step actually optimised: the mean over ranks
                loss_value = loss_value.clone()
                dist.all_reduce(loss_value)
                loss_value /= world
            loss_value = float(loss_value)
            losses.append(loss_value)
            if rank == 0:
                lr_now = optimizer.param_groups[0]["lr"]
                step_rows.append(dict(epoch=epoch + 1, step=global_step, loss=loss_value,
                                      lr=lr_now, grad_norm=float(grad_norm), **parts))
                if global_step % cfg.log_every == 0:
                    bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr_now:.2e}")
                    if writer:
                        writer.add_scalar("train/loss", loss_value, global_step)
                        writer.add_scalar("train/lr", lr_now, global_step)

        # validation on rank 0 over the whole validation set (other ranks wait at the barrier)
        val_metrics: dict[str, Any] = {}
        if rank == 0:
            preds = collect_predictions(model, val_ds, device=device, batch_size=per_rank_batch * 2,
                                        amp=dtype, num_workers=cfg.num_workers)
            val_metrics = window_metrics(preds, threshold=cfg.threshold)
            val_metrics["loss"] = float(np.nansum([cfg.w_cls * preds["loss_cls"],
                                                   cfg.w_closure * preds["loss_closure"]]))
        rng_states = [get_rng_state()]
        if world > 1:
            gathered: list[Any] = [None] * world
            dist.all_gather_object(gathered, rng_states[0])
            rng_states = gathered
        if rank == 0:
            if cfg.select_on == "f1":
                f1 = val_metrics["clip"]["f1"]  # NaN when val has no blink labels: loss decides
                key = [f1 if math.isfinite(f1) else -1.0, -val_metrics["loss"]]
            else:
                key = [-val_metrics["loss"]]
            is_best = best["key"] is None or key > best["key"]
            if is_best:
                best = {"key": key, "epoch": epoch + 1, "metrics": _flat(val_metrics)}
            row = dict(epoch=epoch + 1, step=global_step, train_loss=float(np.mean(losses)),
                       val_loss=val_metrics["loss"], val_f1=val_metrics["clip"]["f1"],
                       val_precision=val_metrics["clip"]["precision"],
                       val_recall=val_metrics["clip"]["recall"], val_auroc=val_metrics["clip"]["auroc"],
                       val_closure_mae=val_metrics["closure_mae"],
                       lr=optimizer.param_groups[0]["lr"], epoch_s=round(time.time() - t0, 3),
                       best=int(is_best))
            metrics_rows.append(row)
            atomic_write_csv(pd.DataFrame(metrics_rows), out / "metrics.csv")
            atomic_write_csv(pd.DataFrame(step_rows), out / "steps.csv")
            if writer:
                for k, v in row.items():
                    if k.startswith("val_") or k == "train_loss":
                        writer.add_scalar(k.replace("_", "/", 1), v, global_step)
                writer.flush()
            state = checkpoint_state(model, cfg.model, model_kwargs, crop_params(train_ds),
                                     config=cfg.to_dict(), split=_plain(split_info), epoch=epoch + 1,
                                     global_step=global_step, optimizer=optimizer.state_dict(),
                                     scheduler=scheduler.state_dict(), best=best, rng=rng_states,
                                     val_metrics=_flat(val_metrics))
            atomic_torch_save(state, ckpt_last)
            if is_best:
                atomic_torch_save(state, out / "best.pt")
            summary = dict(epoch=epoch + 1, step=global_step, val=_flat(val_metrics), best_epoch=best["epoch"])
            if cfg.progress:
                print(f"[fit] epoch {epoch + 1}/{cfg.epochs} train_loss {row['train_loss']:.4f} "
                      f"val_loss {row['val_loss']:.4f} val_f1 {row['val_f1']:.3f} "
                      f"val_auroc {row['val_auroc']:.3f} val_closure_mae {row['val_closure_mae']:.3f}"
                      f"{' *' if is_best else ''}", file=sys.stderr)
        barrier(world)

    if rank == 0:
        summary.update(best=best, run=str(out), world_size=world, device=str(device),
                       finished=last_epoch == cfg.epochs)
        atomic_write_text(out / "summary.json", json.dumps(_plain(summary), indent=2) + "\n")
        if writer:
            writer.close()
    if world > 1:
        barrier(world)
        dist.destroy_process_group()
    return summary


def checkpoint_state(model: torch.nn.Module, model_name: str, model_kwargs: dict[str, Any],
                     crop: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The checkpoint dict (module docstring); `extra` adds the training state. A model-only
    checkpoint (no optimiser) is enough for evaluate, predict and export."""
    return dict(version=CHECKPOINT_VERSION, model=model.state_dict(), model_name=model_name,
                model_kwargs=dict(model_kwargs), default_cfg=_plain(getattr(model, "default_cfg", {})),
                crop=crop, **extra)


def _flat(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested metric dicts -> {"clip/f1": ..., "closure_mae": ...} of plain floats."""
    flat = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            flat.update(_flat(v, f"{prefix}{k}/"))
        elif isinstance(v, (int, float, np.integer, np.floating)):
            flat[f"{prefix}{k}"] = float(v)
    return flat


def _plain(obj: Any) -> Any:
    """JSON/weights_only-safe copy: tuples -> lists, numpy scalars -> Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(__doc__.split("\n\n")[0])
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
    except ConfigError as e:
        parser.error(str(e))
    summary = train(cfg)
    if summary.get("best") and int(os.environ.get("RANK", "0")) == 0:
        m = summary["best"]["metrics"]
        print(f"best epoch {summary['best']['epoch']}: val F1 {m['clip/f1']:.3f} AUROC {m['clip/auroc']:.3f} "
              f"closure MAE {m['closure_mae']:.3f} loss {m['loss']:.4f}; checkpoints in {summary['run']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
