"""Atomic output files: every file the trainer writes appears whole or not at all.

Each writer fills a temporary file beside the target and renames it into place, so a crash or
a kill never leaves a half-written checkpoint, CSV, report or plot behind.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

# One implementation of atomic writes for the whole project (fsync, umask mode, cleanup).
from manifests.atomic import atomic_path, publish  # noqa: F401  (re-exported: trainer.export uses it)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)


def write_csv(df, path: str | os.PathLike) -> None:
    write_text(path, df.to_csv(index=False))


def json_safe(obj: Any) -> Any:
    """NaN/inf -> None (strict JSON), numpy -> Python, tuples -> lists."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(obj: Any, path: str | os.PathLike) -> None:
    write_text(path, json.dumps(json_safe(obj), indent=2) + "\n")


def torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_figure(fig, path: str | os.PathLike) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
