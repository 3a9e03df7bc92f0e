"""Model registry: `create_model(name, **overrides)` and `list_models()` (timm style).

Importing this package registers every BlinkFormer variant (see blinkformer.py).
"""
from trainer.models.registry import create_model, list_models, register_model, is_model
from trainer.models import blinkformer  # noqa: F401  (registers the models)
from trainer.models.blinkformer import BlinkFormer

__all__ = ["create_model", "list_models", "register_model", "is_model", "BlinkFormer"]
