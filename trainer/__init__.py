"""BlinkFormer trainer: eye-window datasets from SynBlink manifests, models, training and prediction.

The public API by group; each name is imported from its module on first use, so `import trainer`
pulls in neither torch nor cv2 and tools that need one piece start fast.
"""
from manifests.lazy import lazy_getattr

_PUBLIC = {
    # data: eye crops from manifest landmarks, their cache, augmentation, eye windows
    "CropConfig": "trainer.crops", "crop_boxes": "trainer.crops", "crop_eye": "trainer.crops",
    "AugmentConfig": "trainer.augment", "WindowAugment": "trainer.augment", "EyeWindowDataset": "trainer.data",
    # models: the registry (blinkformer_tiny, ...)
    "create_model": "trainer.models", "list_models": "trainer.models",
    # training, evaluation, prediction, export (each also a `python -m trainer.<module>` command)
    "TrainConfig": "trainer.config", "train": "trainer.fit", "load_trained_model": "trainer.evaluate", "predict_video": "trainer.predict", "export_onnx": "trainer.export",
    # metrics
    "clip_metrics": "trainer.metrics", "event_metrics": "trainer.metrics",
}
__all__ = list(_PUBLIC)

__getattr__ = lazy_getattr(__name__, _PUBLIC)  # PEP 562: each module is imported when a name of it is first used
