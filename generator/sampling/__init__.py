"""Pure-numpy sampling of everything a clip needs (no bpy): see clip.py for the entry points."""
# the clip and its frames
from .clip import ClipSpec, FrameState, RenderSpec, UNIT_NAMES, clip_id_for, sample_clip, subject_name
# who: the subject's face
from .identity import Identity, sample_identity, slider_target_weights, subject_for_clip, subject_seed_for
# when: blinks
from .blink import BlinkEvent
# how the face moves, and the hard negatives
from .motion import BothEyesExpression, CameraShake, Expressions, GazeMotion, HeadMotion, LookDown, Talking
# where: camera, lights, background
from .environment import (AreaLight, BackgroundSpec, CameraSpec, HdriBackground, ImageBackground, LightSpec,
                          PointLight, SkyBackground, SunLight, TextureBackground, kelvin_to_rgb)
# the one JSON form of all of the above (clips.csv columns)
from .jsonable import from_json, to_json

__all__ = [
    "ClipSpec", "FrameState", "RenderSpec", "UNIT_NAMES", "clip_id_for", "sample_clip", "subject_name",
    "Identity", "sample_identity", "slider_target_weights", "subject_for_clip", "subject_seed_for",
    "BlinkEvent",
    "BothEyesExpression", "CameraShake", "Expressions", "GazeMotion", "HeadMotion", "LookDown", "Talking",
    "AreaLight", "BackgroundSpec", "CameraSpec", "HdriBackground", "ImageBackground", "LightSpec", "PointLight",
    "SkyBackground", "SunLight", "TextureBackground", "kelvin_to_rgb",
    "from_json", "to_json",
]
