"""The checkpoint format, written and read in one place.

`trainer.fit` writes checkpoints with `save_checkpoint(checkpoint_state(...))`; evaluate, predict,
export and `fit --resume` read them with `load_checkpoint` / `load_trained_model`.

A checkpoint is a dict loadable with `torch.load(weights_only=True)` (tensors and plain data
only: loading never runs pickled code, and a file that holds any is refused):

- model-only (enough for evaluate, predict and export): `version`, `model` (state dict),
  `model_name` and `model_kwargs` (for `create_model`), `default_cfg`, `crop` (CropConfig dict);
- training state (`fit --resume`): `config` (TrainConfig dict), `epoch` (completed epochs),
  `global_step`, `optimizer`, `scheduler`, `best`, `rng` (python/numpy/torch/cuda states of every
  rank, see get_rng_state), `split`, `val_metrics`.
"""
from __future__ import annotations

import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.outputs import torch_save

CHECKPOINT_VERSION = 1
MODEL_KEYS = ("model", "model_name", "model_kwargs")
RESUME_KEYS = ("config", "epoch", "global_step", "optimizer", "scheduler", "best", "rng")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message starts with its path."""


def plain(obj: Any) -> Any:
    """JSON/weights_only-safe copy: tuples -> lists, numpy scalars -> Python numbers."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


# ---------------------------------------------------------------------------------- write
def checkpoint_state(model: torch.nn.Module, model_name: str, model_kwargs: dict[str, Any],
                     crop: dict[str, Any] | None = None, **training_state: Any) -> dict[str, Any]:
    """The checkpoint dict (module docstring); `training_state` adds the RESUME_KEYS. Without
    it the checkpoint is model-only."""
    return dict(version=CHECKPOINT_VERSION, model=model.state_dict(), model_name=model_name,
                model_kwargs=dict(model_kwargs), default_cfg=plain(getattr(model, "default_cfg", {})),
                crop=crop, **training_state)


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write atomically: a crash never leaves half a checkpoint where a whole one was."""
    torch_save(state, path)


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


# ----------------------------------------------------------------------------------- read
def _load_failure(path: Path, error: Exception) -> CheckpointError:
    """One line saying why torch.load failed, without torch's advice to disable weights_only."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    if isinstance(error, pickle.UnpicklingError):
        detail = next((ln for ln in lines if "GLOBAL" in ln or "global" in ln), lines[-1] if lines else "")
        return CheckpointError(f"{path}: refused: it holds pickled Python objects, not only tensors "
                               f"and plain data ({detail}); load only checkpoints trainer.fit wrote")
    first = lines[0].split(". ")[0] if lines else type(error).__name__
    return CheckpointError(f"{path}: not a readable checkpoint, truncated or not a torch file "
                           f"({type(error).__name__}: {first})")


def load_checkpoint(path: str | os.PathLike, resume: bool = False) -> dict[str, Any]:
    """The checkpoint dict at `path` (weights_only). CheckpointError naming the path when it is
    truncated, not a checkpoint, holds pickled code, or (resume=True) lacks the training state;
    FileNotFoundError when there is none."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated file, not a torch file, pickled code, ...
        raise _load_failure(path, e) from e
    needed = MODEL_KEYS + (RESUME_KEYS if resume else ())
    missing = [k for k in needed if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        what = "a resumable trainer.fit checkpoint" if resume else "a trainer.fit checkpoint"
        raise CheckpointError(f"{path}: not {what} (missing {', '.join(missing)})")
    return ckpt


def load_trained_model(path: str | os.PathLike, device: str | torch.device = "cpu"):
    """(model in eval mode on `device`, checkpoint dict) from a trainer.fit checkpoint."""
    from trainer.models import create_model

    ckpt = load_checkpoint(path)
    try:
        model = create_model(ckpt["model_name"], **ckpt["model_kwargs"])
    except KeyError as e:
        raise CheckpointError(f"{path}: {e.args[0]}") from e
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit model {ckpt['model_name']!r}: {e}") from e
    return model.to(device).eval(), ckpt


def checkpoint_crop_config(ckpt: dict[str, Any]):
    """The CropConfig the model was trained with (crop size from the model when not recorded)."""
    from trainer.crops import CropConfig

    crop = dict(ckpt.get("crop") or {})
    crop.setdefault("size", int(ckpt["model_kwargs"].get("crop_size", 48)))
    known = set(CropConfig.__dataclass_fields__)
    return CropConfig(**{k: v for k, v in crop.items() if k in known})
