"""BlinkFormer trainer: eye-window datasets from SynBlink manifests, models, training and prediction.

Import-light on purpose: `import trainer` pulls in neither torch nor cv2, so tools that only
need a submodule (or the manifests package) start fast. Import what you need explicitly:

    from trainer.data import EyeWindowDataset
    from trainer.models import create_model, list_models
"""

__all__ = ["crops", "cache", "augment", "data", "models"]
