"""2D labels of a rendered frame: Blender's camera model, closure and the per-eye manifest columns.

Pure numpy (runs inside Blender's Python, 3.10+). Nothing here imports bpy: the scene hands over the
camera's parameters, and tests check `project` against bpy's own `world_to_camera_view`.

Pixel convention (manifest contract): x to the right, y down, continuous coordinates with the origin
at the top-left CORNER of the image, so pixel (i, j) covers [i, i+1) x [j, j+1) and its centre is
(i + 0.5, j + 0.5); a point inside the image has 0 <= x <= W, 0 <= y <= H. This is exactly where
Blender's render puts the point: `world_to_camera_view` (0..1, y up) scaled by (W, H), y flipped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np

from manifests.schema import EYES, LANDMARKS
# An eye counts as visible when its lid opening faces the camera within this angle: past ~60 deg
# of head yaw the far eye's opening is hidden behind the nose bridge and its landmarks mean little.
VISIBLE_MAX_ANGLE_DEG = 60.0


@dataclass
class Camera:
    """A Blender perspective camera: what `bpy.types.Camera` + render settings define.

    matrix_world: 4x4 camera-to-world (the camera looks along its local -Z, +Y up).
    sensor_fit: AUTO (sensor_width spans the larger image side), HORIZONTAL or VERTICAL.
    shift_x/shift_y: lens shift in units of the fitted image side (the larger one with AUTO), as Blender.
    """
    matrix_world: np.ndarray
    lens_mm: float
    width: int
    height: int
    sensor_width_mm: float = 36.0
    sensor_height_mm: float = 24.0
    sensor_fit: str = "AUTO"
    shift_x: float = 0.0
    shift_y: float = 0.0

    def __post_init__(self):
        self.matrix_world = np.asarray(self.matrix_world, np.float64)
        if self.matrix_world.shape != (4, 4):
            raise ValueError(f"camera.matrix_world: expected a 4x4 matrix, got shape {self.matrix_world.shape}")
        for name in ("lens_mm", "sensor_width_mm", "sensor_height_mm", "width", "height"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float, np.number)) and math.isfinite(v) and v > 0):
                raise ValueError(f"camera.{name}: must be a positive number, got {v!r}")
        if self.sensor_fit not in ("AUTO", "HORIZONTAL", "VERTICAL"):
            raise ValueError(f"camera.sensor_fit: must be AUTO, HORIZONTAL or VERTICAL, got {self.sensor_fit!r}")

    @property
    def position(self) -> np.ndarray:
        return self.matrix_world[:3, 3].copy()

    def fit(self):
        """(horizontal?, sensor size in mm along the fitted side), as Blender's BKE_camera_sensor_fit."""
        if self.sensor_fit == "AUTO":
            return self.width >= self.height, self.sensor_width_mm
        if self.sensor_fit == "HORIZONTAL":
            return True, self.sensor_width_mm
        return False, self.sensor_height_mm

    def intrinsics(self) -> np.ndarray:
        """3x3 K in the manifest pixel convention for the OpenCV camera frame (x right, y down, z forward)."""
        horizontal, sensor = self.fit()
        side = self.width if horizontal else self.height
        f_px = self.lens_mm / sensor * side
        # shift moves the view frame (+x right, +y up), so the scene moves the other way in the image
        # (in units of the fitted side, as BKE_camera_params_compute_viewplane)
        cx = self.width / 2.0 - self.shift_x * side
        cy = self.height / 2.0 + self.shift_y * side
        return np.array([[f_px, 0.0, cx], [0.0, f_px, cy], [0.0, 0.0, 1.0]])


def project(points_world, cam_matrix_world, focal_mm: float, sensor_mm: float, W: int, H: int,
            sensor_fit: str = "AUTO", shift_x: float = 0.0, shift_y: float = 0.0,
            sensor_height_mm: float = 24.0) -> np.ndarray:
    """(N, 3) world points -> (N, 2) pixels (x right, y down, origin top-left corner) of a Blender camera.

    Points at or behind the camera plane get NaN. `sensor_mm` is the camera's sensor_width
    (with AUTO fit it spans the larger image side, as in Blender).
    """
    cam = Camera(cam_matrix_world, focal_mm, W, H, sensor_width_mm=sensor_mm, sensor_height_mm=sensor_height_mm,
                 sensor_fit=sensor_fit, shift_x=shift_x, shift_y=shift_y)
    return project_camera(points_world, cam)


def _camera_from(camera) -> "Camera | dict":
    if isinstance(camera, Camera):
        return camera
    if isinstance(camera, Mapping) and "K" in camera:  # pinhole: K + OpenCV world_to_camera
        return camera
    if isinstance(camera, Mapping):  # Camera's fields by name
        try:
            return Camera(**camera)
        except TypeError as exc:
            raise ValueError(f"camera: {exc} (fields: matrix_world, lens_mm, width, height, sensor_width_mm, "
                             f"sensor_height_mm, sensor_fit, shift_x, shift_y)") from None
    raise TypeError(f"camera: expected annotate.Camera or a dict, got {type(camera).__name__}")


def _pinhole(camera) -> tuple:
    """(K, world_to_camera 4x4 in the OpenCV frame, position) of either camera form."""
    if isinstance(camera, Camera):
        w2c = np.linalg.inv(camera.matrix_world)
        flip = np.diag([1.0, -1.0, -1.0, 1.0])  # Blender camera (-Z forward, +Y up) -> OpenCV (z fwd, y down)
        return camera.intrinsics(), flip @ w2c, camera.position
    K = np.asarray(camera["K"], np.float64)
    w2c = np.asarray(camera["world_to_camera"], np.float64)
    if K.shape != (3, 3) or w2c.shape != (4, 4):
        raise ValueError(f"camera: K must be 3x3 and world_to_camera 4x4, got {K.shape} and {w2c.shape}")
    return K, w2c, np.linalg.inv(w2c)[:3, 3]


def project_camera(points_world, camera) -> np.ndarray:
    """Project with a `Camera`, a dict of its fields, or a pinhole dict {K, world_to_camera (OpenCV), width, height}."""
    K, w2c, _ = _pinhole(_camera_from(camera))
    p = np.atleast_2d(np.asarray(points_world, np.float64))
    if p.shape[-1] != 3:
        raise ValueError(f"points_world: expected (N, 3), got shape {p.shape}")
    pc = p @ w2c[:3, :3].T + w2c[:3, 3]
    z = pc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = (pc @ K.T)[:, :2] / z[:, None]
    uv[z <= 1e-9] = np.nan
    return uv


def closure(aperture: float, neutral: float) -> float:
    """Closure in [0, 1]: 0 at the subject's neutral aperture, 1 when the mid lids touch (or cross)."""
    if not (math.isfinite(neutral) and neutral > 0):
        raise ValueError(f"neutral aperture must be a positive number of metres, got {neutral!r}")
    if not math.isfinite(aperture):
        raise ValueError(f"aperture must be finite, got {aperture!r}")
    return float(min(max(1.0 - aperture / neutral, 0.0), 1.0))


def eye_visible(model, verts_world: np.ndarray, eye: str, camera, uv: np.ndarray) -> bool:
    """In frame (all five landmarks inside the image) and the lid opening faces the camera.

    The opening's normal is (outer - inner) x up of the eye, pointing out of the face; the eye is
    visible when the angle between it and the direction to the camera is below VISIBLE_MAX_ANGLE_DEG.
    """
    cam = _camera_from(camera)
    width, height = (cam.width, cam.height) if isinstance(cam, Camera) else (cam["width"], cam["height"])
    if not np.all(np.isfinite(uv)) or np.any(uv < 0) or np.any(uv[:, 0] > width) or np.any(uv[:, 1] > height):
        return False
    _, _, cam_pos = _pinhole(cam)
    lm = model.landmarks(verts_world, eye)
    normal = np.cross(lm["outer"] - lm["inner"], model.eye_up(verts_world, eye))
    normal = normal / np.linalg.norm(normal)
    if np.dot(normal, 0.5 * (lm["outer"] + lm["inner"]) - lm["centre"]) < 0:
        normal = -normal  # point out of the face: from the eyeball centre toward the corners' midpoint
    to_cam = cam_pos - 0.5 * (lm["upper"] + lm["lower"])
    cos = float(np.dot(normal, to_cam) / np.linalg.norm(to_cam))
    return cos > math.cos(math.radians(VISIBLE_MAX_ANGLE_DEG))


def frame_labels(model, verts_world: np.ndarray, camera, neutral_aperture: Mapping[str, float],
                 phase: Optional[Mapping[str, str]] = None, blink_id: Optional[Mapping[str, int]] = None) -> dict:
    """Per-eye manifest columns of one frame: `{eye}_{closure,phase,blink_id,outer_x,...,pupil_y,visible}`.

    verts_world: posed vertices (FaceModel.pose_vertices) moved into the world frame the camera
    sees; camera: `Camera`, a dict of its fields, or a pinhole dict; neutral_aperture: per eye, from
    FaceModel.neutral_aperture of the identity (the aperture is a length, so it is invariant to
    the rigid head motion). phase / blink_id come from the clip's FrameState.
    """
    phase = phase or {}  # none given (tests, real data): open, outside events
    blink_id = blink_id or {}
    row = {}
    for eye in EYES:
        lm = model.landmarks(verts_world, eye)
        uv = project_camera(np.stack([lm[k] for k in LANDMARKS]), camera)
        row[f"{eye}_closure"] = closure(model.aperture(verts_world, eye), float(neutral_aperture[eye]))
        row[f"{eye}_phase"] = phase.get(eye, "open")
        row[f"{eye}_blink_id"] = int(blink_id.get(eye, -1))
        for k, (x, y) in zip(LANDMARKS, uv):
            row[f"{eye}_{k}_x"] = float(x)
            row[f"{eye}_{k}_y"] = float(y)
        row[f"{eye}_visible"] = int(eye_visible(model, verts_world, eye, camera, uv))
    return row
