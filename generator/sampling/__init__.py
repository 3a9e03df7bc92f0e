"""Pure-numpy sampling of everything a clip needs (no bpy): see clip.py for the entry points."""
from .blink import BlinkEvent
from .clip import ClipSpec, FrameState, UNIT_NAMES, clip_id_for, sample_clip
from .identity import Identity, sample_identity, slider_target_weights, subject_for_clip, subject_seed_for
from .scene_params import kelvin_to_rgb

__all__ = ["BlinkEvent", "ClipSpec", "FrameState", "UNIT_NAMES", "clip_id_for", "sample_clip", "Identity",
           "sample_identity", "slider_target_weights", "subject_for_clip", "subject_seed_for", "kelvin_to_rgb"]
