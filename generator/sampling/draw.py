"""Draws every sampler shares (pure numpy): a value from a configured [lo, hi] range, a weighted kind."""
from typing import Dict

import numpy as np


def uniform(rng: np.random.Generator, lo_hi) -> float:
    """Uniform in [lo, hi]; a range with hi <= lo is the constant lo (and draws nothing)."""
    lo, hi = float(lo_hi[0]), float(lo_hi[1])
    return lo if hi <= lo else float(rng.uniform(lo, hi))


def choice(rng: np.random.Generator, weights: Dict[str, float]) -> str:
    """A key of ``weights`` with probability proportional to its weight (zero weights never)."""
    keys = sorted(k for k, w in weights.items() if w > 0)  # sorted: order of the config file does not matter
    w = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=w / w.sum()))]
