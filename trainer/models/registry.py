"""A tiny timm-like registry: model names -> constructor functions.

Kept separate from timm's own registry so our names never collide with (or pollute) timm's.
"""
from __future__ import annotations

import fnmatch
import os
from typing import Callable

import torch
from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: register `fn` under its function name."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} registered twice")
    _MODELS[name] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style `pattern`, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def is_model(name: str) -> bool:
    return name in _MODELS


def create_model(name: str, pretrained_path: str | os.PathLike | None = None, **overrides) -> nn.Module:
    """Build a registered model; `overrides` replace the variant's default arguments.

    pretrained_path: optional local weights (a state dict, or a checkpoint dict holding one
    under "model" / "state_dict"). Nothing is ever downloaded.
    """
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    model = _MODELS[name](**overrides)
    if pretrained_path is not None:
        state = torch.load(pretrained_path, map_location="cpu", weights_only=True)
        for key in ("model", "state_dict"):
            if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                state = state[key]
                break
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise RuntimeError(f"{pretrained_path}: weights do not fit model {name!r}: {e}") from e
    return model
