"""annotate: Blender's camera model, closure and the per-eye manifest columns of a frame."""
import math

import numpy as np
import pytest

from generator import annotate
from generator.annotate import Camera, closure, frame_labels, project
from generator.face_model import FaceModel
from manifests import schema


@pytest.fixture(scope="module")
def model():
    return FaceModel.load()


def look_at(eye, target, up=(0.0, 0.0, 1.0)):
    """Camera-to-world matrix of a Blender camera at `eye` looking at `target` (local -Z forward, +Y up)."""
    eye, target, up = (np.asarray(v, np.float64) for v in (eye, target, up))
    back = eye - target
    back /= np.linalg.norm(back)
    right = np.cross(up, back)
    right /= np.linalg.norm(right)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, np.cross(back, right), back, eye
    return m


def random_rotation(rng):
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def test_project_matches_blender_world_to_camera_view():
    bpy = pytest.importorskip("bpy")
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Matrix, Vector

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    cam_obj = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam_obj)
    scene.camera = cam_obj
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    rng = np.random.default_rng(0)
    cases = [((256, 256), "AUTO"), ((640, 360), "AUTO"), ((240, 320), "AUTO"), ((300, 200), "VERTICAL"),
             ((200, 300), "HORIZONTAL"), ((350, 350), "AUTO")]
    for (w, h), fit in cases:
        m = np.eye(4)
        m[:3, :3] = random_rotation(rng)
        m[:3, 3] = rng.uniform(-2, 2, size=3)
        lens, sw, sh = rng.uniform(20, 120), rng.uniform(20, 40), rng.uniform(15, 30)
        sx, sy = rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2)
        scene.render.resolution_x, scene.render.resolution_y = w, h
        scene.render.resolution_percentage = 100
        cam = cam_obj.data
        cam.lens, cam.sensor_width, cam.sensor_height, cam.sensor_fit = lens, sw, sh, fit
        cam.shift_x, cam.shift_y = sx, sy
        cam_obj.matrix_world = Matrix(m.tolist())
        bpy.context.view_layer.update()
        # points in front of the camera, spread over (and a bit past) the view
        local = np.stack([rng.uniform(-0.6, 0.6, 20), rng.uniform(-0.6, 0.6, 20), -rng.uniform(0.5, 5, 20)], axis=1)
        world = local @ m[:3, :3].T + m[:3, 3]
        ours = project(world, m, lens, sw, w, h, sensor_fit=fit, shift_x=sx, shift_y=sy, sensor_height_mm=sh)
        ref = np.array([tuple(world_to_camera_view(scene, cam_obj, Vector(p.tolist())))[:2] for p in world])
        ref_px = np.stack([ref[:, 0] * w, (1.0 - ref[:, 1]) * h], axis=1)
        assert np.abs(ours - ref_px).max() < 1e-3, ((w, h), fit)


def test_pixel_convention_centre_and_behind_camera():
    m = look_at((0, -1, 0), (0, 0, 0))
    uv = project([[0, 0, 0], [0, -2, 0]], m, 50, 36, 256, 128)
    assert uv[0] == pytest.approx([128.0, 64.0])  # optical axis: the image centre, between pixels 127 and 128
    assert np.all(np.isnan(uv[1]))  # behind the camera
    up = project([[0, 0, 0.01]], m, 50, 36, 256, 128)[0]
    right = project([[0.01, 0, 0]], m, 50, 36, 256, 128)[0]
    assert up[1] < 64 and right[0] > 128  # y down, x right


def test_pinhole_dict_and_blender_camera_agree():
    rng = np.random.default_rng(1)
    m = look_at((0.1, -0.6, 0.05), (0, 0, 0))
    cam = Camera(m, 85.0, 320, 240, shift_x=0.05, shift_y=-0.03)
    pts = rng.uniform(-0.1, 0.1, (30, 3))
    flip = np.diag([1.0, -1.0, -1.0, 1.0])
    pinhole = {"K": cam.intrinsics(), "world_to_camera": flip @ np.linalg.inv(m), "width": 320, "height": 240}
    assert np.allclose(annotate.project_camera(pts, cam), annotate.project_camera(pts, pinhole), atol=1e-9)
    assert np.allclose(annotate.project_camera(pts, {"matrix_world": m, "lens_mm": 85.0, "width": 320, "height": 240,
                                                     "shift_x": 0.05, "shift_y": -0.03}),
                       annotate.project_camera(pts, cam))


def test_closure_range_and_errors():
    assert closure(0.008, 0.008) == 0.0
    assert closure(0.004, 0.008) == pytest.approx(0.5)
    assert closure(-0.001, 0.008) == 1.0 and closure(0.012, 0.008) == 0.0  # clipped
    with pytest.raises(ValueError, match="neutral"):
        closure(0.004, 0.0)
    with pytest.raises(ValueError, match="lens_mm"):
        Camera(np.eye(4), -5.0, 100, 100)
    with pytest.raises(ValueError, match="matrix_world"):
        Camera(np.eye(3), 50.0, 100, 100)


def face_camera(model, iv, res=256, lens=50.0, yaw_deg=0.0):
    """A camera in front of the face (on -Y) whose view is ~22 cm wide at the eyes (face framing)."""
    dist = 0.3
    a = math.radians(yaw_deg)
    pos = np.array([dist * math.sin(a), -dist * math.cos(a), 0.0])
    return Camera(look_at(pos, (0, 0, 0)), lens, res, res)


def test_frame_labels_columns_follow_the_manifest_schema(model):
    iv = model.identity_vertices()
    neutral = {e: model.neutral_aperture(iv, e) for e in ("left", "right")}
    row = frame_labels(model, iv, face_camera(model, iv), neutral,
                       phase={"left": "closing", "right": "open"}, blink_id={"left": 0, "right": -1})
    expected = set(schema.eye_columns("left") + schema.eye_columns("right"))
    assert set(row) == expected
    assert row["left_phase"] == "closing" and row["left_blink_id"] == 0 and row["right_blink_id"] == -1
    assert row["left_closure"] == pytest.approx(0.0, abs=1e-9) and row["right_closure"] == pytest.approx(0.0, abs=1e-9)
    assert row["left_visible"] == 1 and row["right_visible"] == 1
    # the subject's left eye appears on the image's right for a camera facing the subject
    assert row["left_outer_x"] > row["left_inner_x"] > 128 > row["right_inner_x"] > row["right_outer_x"]
    assert row["left_upper_y"] < row["left_lower_y"]  # upper lid higher in the image (y down)


def test_closed_lids_meet_within_a_pixel_at_face_framing(model):
    rng = np.random.default_rng(7)
    for _ in range(3):
        ident = {"gender": rng.uniform(0, 1), "age": rng.uniform(0.45, 0.9), "weight": rng.uniform(0, 1),
                 "asian": rng.uniform(0, 1), "african": rng.uniform(0, 1), "caucasian": rng.uniform(0, 1)}
        iv = model.identity_vertices(ident)
        neutral = {e: model.neutral_aperture(iv, e) for e in ("left", "right")}
        cam = face_camera(model, iv, res=256, yaw_deg=rng.uniform(-15, 15))
        closed = model.pose_vertices(iv, {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0})
        row = frame_labels(model, closed, cam, neutral)
        open_row = frame_labels(model, iv, cam, neutral)
        for eye in ("left", "right"):
            gap = math.hypot(row[f"{eye}_upper_x"] - row[f"{eye}_lower_x"], row[f"{eye}_upper_y"] - row[f"{eye}_lower_y"])
            open_gap = open_row[f"{eye}_lower_y"] - open_row[f"{eye}_upper_y"]
            assert row[f"{eye}_closure"] == pytest.approx(1.0, abs=0.01)
            assert gap < 1.0, gap  # mid lids within a pixel
            assert open_gap > 8.0  # and clearly apart when open at this framing
            assert open_row[f"{eye}_closure"] == pytest.approx(0.0, abs=1e-9)


def test_labels_follow_the_head_through_a_rigid_world_transform(model):
    """The scene moves the posed head into the world: closure is unchanged, landmarks move with it."""
    iv = model.identity_vertices()
    neutral = {e: model.neutral_aperture(iv, e) for e in ("left", "right")}
    half = model.pose_vertices(iv, {"eyeBlinkLeft": 0.5})
    rot = np.array([[math.cos(0.2), -math.sin(0.2), 0], [math.sin(0.2), math.cos(0.2), 0], [0, 0, 1]])
    world = half @ rot.T + np.array([0.3, 1.0, 1.5])
    cam = Camera(look_at((0.3 + 0.45 * math.sin(0.2), 1.0 - 0.45 * math.cos(0.2), 1.5), (0.3, 1.0, 1.5)), 50, 256, 256)
    row = frame_labels(model, world, cam, neutral)
    assert row["left_closure"] == pytest.approx(0.5, abs=0.01)
    assert row["right_closure"] == pytest.approx(0.0, abs=1e-6)
    lm = model.landmarks(world, "left")
    assert np.allclose(annotate.project_camera(lm["pupil"][None], cam)[0], (row["left_pupil_x"], row["left_pupil_y"]))


def test_visibility_out_of_frame_and_turned_away(model):
    iv = model.identity_vertices()
    neutral = {e: model.neutral_aperture(iv, e) for e in ("left", "right")}
    # the lid opening's normal points ~5 deg outward and ~13 deg down (measured on the mesh)
    three_quarter = frame_labels(model, iv, face_camera(model, iv, yaw_deg=-40), neutral)
    assert three_quarter["right_visible"] == 1 and three_quarter["left_visible"] == 1
    # camera far to the subject's right (-X): the left eye turns away (> VISIBLE_MAX_ANGLE_DEG)
    side = frame_labels(model, iv, face_camera(model, iv, yaw_deg=-75), neutral)
    assert side["left_visible"] == 0
    side = frame_labels(model, iv, face_camera(model, iv, yaw_deg=75), neutral)
    assert side["right_visible"] == 0
    # a long lens aimed at the right eye: the left eye is outside the image
    cam = Camera(look_at((-0.03, -0.45, 0.0), (-0.03, 0, 0)), 300, 128, 128)
    tight = frame_labels(model, iv, cam, neutral)
    assert tight["right_visible"] == 1 and tight["left_visible"] == 0
    assert tight["left_outer_x"] > 128
