"""The shipped blink detector: a synthetic-only checkpoint kept in the repository.

`python -m trainer.predict INPUT --out DIR` uses it when --checkpoint is not given, so a user
can run blink detection straight after set-up. How it was trained (command, data config,
numbers) is in trainer/weights/README.md; it never saw real data (issue 12).
"""
from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
SHIPPED_CHECKPOINT = WEIGHTS_DIR / "blinkformer_synthetic.pt"


def default_checkpoint_path() -> Path:
    """The shipped checkpoint; FileNotFoundError naming it when this copy has none."""
    if not SHIPPED_CHECKPOINT.is_file():
        raise FileNotFoundError(f"{SHIPPED_CHECKPOINT}: no shipped model in this copy; pass --checkpoint RUN/last.pt")
    return SHIPPED_CHECKPOINT
