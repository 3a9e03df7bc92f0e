"""The manifest contract, version 1: column names, dtypes and conventions, written once.

STANDARD LIBRARY ONLY: the Blender render process imports this module (Blender's bundled
Python has no pandas), and it must work on Python 3.10 (Debian's Blender 3.4).
Everyone imports column names from here instead of spelling them.

A dataset is a directory::

    <dataset>/frames.csv     one row per frame (required)
    <dataset>/clips.csv      one row per clip: everything sampled for it (required for synthetic data)
    <dataset>/frames/<clip_id>/<frame:04d>.png   and/or   <dataset>/videos/<clip_id>.mp4

Conventions
-----------
- Paths inside the CSVs are relative to the dataset directory (``/`` separated).
- Frames are 0-based; the frames of a clip are exactly 0..n_frames-1.
- ``left`` / ``right`` are the SUBJECT's own left and right eye (ARKit and MakeHuman naming).
  In a frontal image the subject's left eye is on the image's RIGHT side. Datasets that label
  by image side (HUST-LEBW's zuo = image left, you = image right) are converted by their adapter.
- Image coordinates are pixels: x to the right, y down, origin at the top-left corner of the
  image; a landmark inside the image has 0 <= x <= width and 0 <= y <= height.
- ``<eye>_closure`` is in [0, 1]: 0 is the subject's neutral open aperture, 1 is the lids
  touching (measured from geometry, so squints and downward looks get their true partial value).
- ``<eye>_phase`` is one of PHASES. A blink event is a closing phase followed by an opening
  phase (with an optional closed phase between them).
- ``<eye>_blink_id`` numbers the blink events of that eye within the clip (0, 1, ...) and is
  -1 outside events, i.e. exactly on the frames whose phase is ``open``.
- ``<eye>_visible`` is 0 when the eye is occluded or out of frame; its landmarks may then be
  empty or lie outside the image.
- A clip's ``blink`` is 1 when the peak of a blink event (either eye) lies inside the clip;
  clips.csv ``cut_event`` is 1 when the clip cuts an event in half.
- Real datasets fill what they know: every column listed here must be present, but outside
  NON_NULL_FRAME_COLUMNS / NON_NULL_CLIP_COLUMNS a value may be empty (unknown).
  FEATURES says which columns each trainer feature needs filled.
"""
from __future__ import annotations

MANIFEST_VERSION = 1

FRAMES_CSV = "frames.csv"
CLIPS_CSV = "clips.csv"
FRAMES_DIR = "frames"
VIDEOS_DIR = "videos"
DATASET_CONFIG_JSON = "config.json"  # synthetic datasets: {"config", "seed", "versions"} (generator/writers.py)
# Still-image files any tool here reads (frames, background photos, real-data folders); lower case.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

EYES = ("left", "right")
PHASES = ("open", "closing", "closed", "opening")
SPLITS = ("train", "val", "test")
NO_EVENT = -1  # blink_id outside blink events

# dtypes as strings pandas understands. Nullable "Int64" / "string" because real datasets leave
# unknown values empty; "float64" holds NaN natively.
STR = "string"
INT = "Int64"
FLOAT = "float64"

# Per-eye columns, by suffix: f"{eye}_{suffix}".
EYE_COLUMN_DTYPES = {
    "closure": FLOAT,
    "phase": STR,
    "blink_id": INT,
    "outer_x": FLOAT, "outer_y": FLOAT,   # eye corners (outer = lateral, away from the nose)
    "inner_x": FLOAT, "inner_y": FLOAT,
    "upper_x": FLOAT, "upper_y": FLOAT,   # mid upper lid
    "lower_x": FLOAT, "lower_y": FLOAT,   # mid lower lid
    "pupil_x": FLOAT, "pupil_y": FLOAT,
    "visible": INT,
}
LANDMARKS = ("outer", "inner", "upper", "lower", "pupil")


def eye_columns(eye: str) -> list:
    """The per-eye frames.csv columns of `eye` ('left' or 'right'), in contract order."""
    if eye not in EYES:
        raise ValueError(f"eye must be one of {EYES}, got {eye!r}")
    return [f"{eye}_{suffix}" for suffix in EYE_COLUMN_DTYPES]


def landmark_columns(eye: str) -> list:
    """[(x_column, y_column), ...] of the landmarks of `eye`."""
    eye_columns(eye)  # validates `eye`
    return [(f"{eye}_{name}_x", f"{eye}_{name}_y") for name in LANDMARKS]


_FRAME_HEAD = {
    "clip_id": STR,
    "frame": INT,
    "image": STR,
    "width": INT,
    "height": INT,
    "fps": FLOAT,
    "subject_id": STR,
    "blink": INT,
}
FRAME_REQUIRED_DTYPES = dict(_FRAME_HEAD)
for _eye in EYES:
    FRAME_REQUIRED_DTYPES.update({f"{_eye}_{s}": d for s, d in EYE_COLUMN_DTYPES.items()})

FRAME_OPTIONAL_DTYPES = {
    "video": STR,          # path of the clip's video, relative to the dataset
    "video_frame": INT,    # index of this frame inside `video`
    "head_yaw": FLOAT, "head_pitch": FLOAT, "head_roll": FLOAT,  # degrees, head relative to camera
    "gaze_yaw": FLOAT, "gaze_pitch": FLOAT,  # degrees; +pitch looks up, +yaw to the subject's left
    "split": STR,          # one of SPLITS
}
FRAME_DTYPES = {**FRAME_REQUIRED_DTYPES, **FRAME_OPTIONAL_DTYPES}
FRAME_REQUIRED_COLUMNS = list(FRAME_REQUIRED_DTYPES)
FRAME_OPTIONAL_COLUMNS = list(FRAME_OPTIONAL_DTYPES)
FRAME_COLUMNS = FRAME_REQUIRED_COLUMNS + FRAME_OPTIONAL_COLUMNS  # canonical column order

# Values that must never be empty, even in a real dataset: without them a row means nothing.
# Every frame also needs a picture: `image`, or `video` + `video_frame`.
NON_NULL_FRAME_COLUMNS = ("clip_id", "frame", "width", "height")
FRAME_KEY_COLUMNS = ("clip_id", "frame")

# Same value on every frame of a clip.
CLIP_LEVEL_COLUMNS = ("clip_id", "subject_id", "fps", "width", "height", "blink", "split")
CLIP_KEY_COLUMNS = ("clip_id",)

CLIP_REQUIRED_DTYPES = {
    "clip_id": STR,
    "subject_id": STR,
    "n_frames": INT,
    "fps": FLOAT,
    "width": INT,
    "height": INT,
    "blink": INT,
    "cut_event": INT,   # 1: the clip cuts a blink event in half
}
CLIP_OPTIONAL_DTYPES = {
    "split": STR,
    "blender_version": STR,  # the Blender that rendered the clip (generator); empty for real data
}
CLIP_DTYPES = {**CLIP_REQUIRED_DTYPES, **CLIP_OPTIONAL_DTYPES}
CLIP_REQUIRED_COLUMNS = list(CLIP_REQUIRED_DTYPES)
CLIP_COLUMNS = CLIP_REQUIRED_COLUMNS + list(CLIP_OPTIONAL_DTYPES)
NON_NULL_CLIP_COLUMNS = ("clip_id", "n_frames")
# clips.csv may hold any further columns (every sampled parameter); they are kept as they are.

BINARY_COLUMNS = ("blink", "left_visible", "right_visible", "cut_event")  # 0 or 1
PATH_COLUMNS = ("image", "video")  # relative to the dataset directory; merge re-bases them


def _both(*suffixes: str) -> tuple:
    return tuple(f"{eye}_{s}" for s in suffixes for eye in EYES)


# Which frames.csv columns each trainer feature needs FILLED (non-empty).
FEATURES = {
    "eye_crops": ("image", "width", "height") + _both("outer_x", "outer_y", "inner_x", "inner_y"),
    "closure_regression": _both("closure"),
    "blink_events": _both("blink_id", "phase"),
    "clip_classification": ("blink",),
    "head_pose": ("head_yaw", "head_pitch", "head_roll"),
    "gaze": ("gaze_yaw", "gaze_pitch"),
    "landmarks": _both(*[f"{n}_{a}" for n in LANDMARKS for a in ("x", "y")]),
    "subject_split": ("subject_id",),
}


def feature_columns(feature: str) -> tuple:
    if feature not in FEATURES:
        raise ValueError(f"unknown feature {feature!r}; known: {', '.join(FEATURES)}")
    return FEATURES[feature]


def frame_image_path(clip_id: str, frame: int) -> str:
    """The conventional relative path of a rendered frame: frames/<clip_id>/<frame:04d>.png."""
    return f"{FRAMES_DIR}/{clip_id}/{int(frame):04d}.png"


def video_path(clip_id: str) -> str:
    return f"{VIDEOS_DIR}/{clip_id}.mp4"


def empty_frame_row() -> dict:
    """A frames.csv row with every column present and unknown (None), in canonical order."""
    return {c: None for c in FRAME_COLUMNS}
