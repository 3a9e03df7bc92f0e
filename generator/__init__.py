"""SynBlink generator: sample (pure numpy), render (Blender), annotate, write.

The public API by group; each name is imported from its module on first use, so importing
``generator`` imports nothing heavy and never bpy (configs and clip specs are built and tested
without Blender). Only the "Blender side" names import bpy, and only when used.
"""
import importlib

_PUBLIC = {
    # configuration: every knob, its default and its reason (configs/default.json)
    "GeneratorConfig": "generator.config", "ConfigError": "generator.config", "load_config": "generator.config",
    # sampling, pure numpy: everything a clip is, as frozen dataclasses (see generator.sampling for all)
    "ClipSpec": "generator.sampling", "FrameState": "generator.sampling", "sample_clip": "generator.sampling",
    "Identity": "generator.sampling", "BlinkEvent": "generator.sampling", "RenderSpec": "generator.sampling",
    # face geometry and labels, pure numpy
    "FaceModel": "generator.face_model", "Camera": "generator.annotate", "frame_labels": "generator.annotate",
    # Blender side (imports bpy): the scene built once per process, and the worker that renders clips by index
    "FaceScene": "generator.scene", "ClipRenderer": "generator.worker",
}
__all__ = list(_PUBLIC)


def __getattr__(name):  # PEP 562: the module of a public name is imported when the name is first used
    if name not in _PUBLIC:
        raise AttributeError(f"module 'generator' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
