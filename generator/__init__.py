"""SynBlink generator: sample (pure numpy), render (Blender), annotate, write.

The public API by group; each name is imported from its module on first use, so importing
``generator`` imports nothing heavy and never bpy (configs and clip specs are built and tested
without Blender). Only the "Blender side" names import bpy, and only when used.
"""
from manifests.lazy import lazy_getattr

_PUBLIC = {
    # configuration: every knob, its default and its reason (configs/default.json)
    "GeneratorConfig": "generator.config", "ConfigError": "generator.config", "load_config": "generator.config",
    # sampling, pure numpy: everything a clip is, as frozen dataclasses (see generator.sampling for all)
    "ClipSpec": "generator.sampling", "FrameState": "generator.sampling", "sample_clip": "generator.sampling",
    "Identity": "generator.sampling", "BlinkEvent": "generator.sampling", "RenderSpec": "generator.sampling",
    # face geometry and labels, pure numpy
    "FaceModel": "generator.face_model", "Camera": "generator.annotate", "frame_labels": "generator.annotate",
    # Blender side (imports bpy): the scene built once per process, and the worker that renders clips by index
    "FaceScene": "generator.scene", "ClipWorker": "generator.worker",
}
__all__ = list(_PUBLIC)

__getattr__ = lazy_getattr(__name__, _PUBLIC)  # PEP 562: each module is imported when a name of it is first used
