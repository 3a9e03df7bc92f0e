"""FaceScene on the bpy wheel: frames and rows are written, re-rendering is reproducible, and the
pixels agree with the labels (closing only the subject's left eye changes only that eye's region,
and a closure of 1 is a shut eye in the image).

Kept small for CI on 2 cores: one scene per module, 64-128 px frames, Cycles at 8 samples.
"""
import dataclasses
import math
import os

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from generator.config import GeneratorConfig  # noqa: E402
from generator.sampling import (AreaLight, HdriBackground, ImageBackground, TextureBackground,  # noqa: E402
                                 kelvin_to_rgb, sample_clip)

EYE_COLUMNS = ["closure", "phase", "blink_id", "outer_x", "outer_y", "inner_x", "inner_y", "upper_x",
               "upper_y", "lower_x", "lower_y", "pupil_x", "pupil_y", "visible"]


def _read_png(path):
    img = bpy.data.images.load(str(path))
    try:
        w, h = img.size
        px = np.empty(w * h * 4, np.float32)
        img.pixels.foreach_get(px)
        return px.reshape(h, w, 4)[::-1, :, :3]  # Blender stores rows bottom-up; return top-down
    finally:
        bpy.data.images.remove(img)


class _Controlled:
    """A sampled ClipSpec whose frames are replaced by fixed poses (for pixel comparisons)."""

    def __init__(self, spec, frames):
        self._spec, self._frames = spec, frames
        self.n_frames = len(frames)

    def __getattr__(self, name):
        return getattr(self._spec, name)

    def frame_state(self, t):
        fs = self._spec.frame_state(0)
        units = {k: 0.0 for k in fs.units}
        units.update(self._frames[t])
        return dataclasses.replace(fs, units=units, head_yaw=0.0, head_pitch=0.0, head_roll=0.0,
                                   gaze_yaw=0.0, gaze_pitch=0.0, camera_shake=(0.0, 0.0, 0.0))


@pytest.fixture(scope="module")
def scene():
    from generator.scene import FaceScene

    cfg = GeneratorConfig()
    cfg.render.engine = "cycles"
    cfg.render.samples = 8
    cfg.clip.resolution = [64, 64]
    return FaceScene(cfg)


def _spec(scene, index, n_frames, resolution):
    spec = sample_clip(scene.cfg, index)
    spec.n_frames = n_frames
    spec.resolution = list(resolution)
    return spec


def _framed(spec):
    """The face centred and close (the pixel tests look at the eyes)."""
    spec.camera = dataclasses.replace(spec.camera, distance_m=0.4, focal_length_mm=85.0, offset_x=0.0, offset_y=0.0)


def _plain_backdrop(colour_a, colour_b):
    return TextureBackground(blur=0.0, world_strength=0.3, distance_m=0.8, texture_kind="noise", texture_scale=5.0,
                             colour_a=colour_a, colour_b=colour_b, detail=2.0, distortion=0.0, seed=0)


def test_render_clip_writes_frames_and_rows(scene, tmp_path):
    spec = _spec(scene, 0, 2, (64, 48))
    rows = scene.render_clip(spec, str(tmp_path / "clip"))
    assert sorted(os.listdir(tmp_path / "clip")) == ["0000.png", "0001.png"]
    assert _read_png(tmp_path / "clip" / "0001.png").shape == (48, 64, 3)
    assert [r["frame"] for r in rows] == [0, 1]
    for r in rows:
        assert (r["width"], r["height"]) == (64, 48)
        for eye in ("left", "right"):
            for col in EYE_COLUMNS:
                assert f"{eye}_{col}" in r, f"{eye}_{col} missing"
            assert 0.0 <= r[f"{eye}_closure"] <= 1.0
            assert all(math.isfinite(r[f"{eye}_{k}"]) for k in ("outer_x", "upper_y", "pupil_x"))
        for k in ("head_yaw", "head_pitch", "head_roll", "gaze_yaw", "gaze_pitch"):
            assert math.isfinite(r[k])
    fs = spec.frame_state(1)
    assert rows[1]["left_phase"] == fs.phase["left"] and rows[1]["head_yaw"] == pytest.approx(fs.head_yaw)
    timings = scene.last_timings
    assert len(timings) == 2 and all(t["render_s"] > 0 and t["write_s"] > 0 for t in timings)
    assert not any(k.endswith("_s") for k in rows[0])  # timings stay out of the manifest rows


def test_rendering_twice_gives_identical_labels_and_pixels(scene, tmp_path):
    spec = _spec(scene, 1, 2, (64, 64))
    a = scene.render_clip(spec, str(tmp_path / "a"))
    scene.render_clip(_spec(scene, 2, 1, (64, 64)), str(tmp_path / "other"))  # a different clip between
    b = scene.render_clip(spec, str(tmp_path / "b"))
    assert a == b
    for t in range(2):
        pa, pb = _read_png(tmp_path / "a" / f"{t:04d}.png"), _read_png(tmp_path / "b" / f"{t:04d}.png")
        assert np.abs(pa - pb).max() <= 2 / 255


def _box(row, eye, margin):
    xs = [row[f"{eye}_{k}_x"] for k in ("outer", "inner", "upper", "lower")]
    ys = [row[f"{eye}_{k}_y"] for k in ("outer", "inner", "upper", "lower")]
    w = max(xs) - min(xs)
    return (int(min(xs) - margin * w), int(max(xs) + margin * w) + 1,
            int(min(ys) - margin * w), int(max(ys) + margin * w) + 1)


def test_closing_left_eye_changes_only_left_eye_pixels_and_matches_labels(scene, tmp_path):
    spec = _spec(scene, 3, 2, (128, 128))
    _framed(spec)
    # bare-faced: this subject draws glasses, whose lens spans past the eye box and re-denoises
    # to within a few levels of the threshold there (glasses have their own test below)
    spec.identity = dataclasses.replace(spec.identity, glasses=None)
    spec.lights = (AreaLight(power_w=80.0, azimuth_deg=20.0, elevation_deg=25.0, distance_m=1.2, size_m=0.5,
                             colour_temperature_k=5500.0, rgb=kelvin_to_rgb(5500.0)),)
    spec.background = _plain_backdrop((0.2, 0.3, 0.4), (0.5, 0.5, 0.45))
    rows = scene.render_clip(_Controlled(spec, [{}, {"eyeBlinkLeft": 1.0}]), str(tmp_path / "wink"))
    open_, shut = rows
    assert open_["left_closure"] < 0.05 and open_["right_closure"] < 0.05
    assert shut["left_closure"] > 0.95 and shut["right_closure"] < 0.05
    # labels: the lids meet at closure 1, and the subject's left eye is on the image's right
    assert abs(shut["left_upper_y"] - shut["left_lower_y"]) < 1.5 < abs(open_["left_upper_y"] - open_["left_lower_y"])
    assert open_["left_pupil_x"] > open_["right_pupil_x"]
    for k in ("outer_x", "inner_y", "pupil_x", "upper_y"):
        assert shut[f"right_{k}"] == pytest.approx(open_[f"right_{k}"], abs=1e-6)

    a = _read_png(tmp_path / "wink" / "0000.png")
    b = _read_png(tmp_path / "wink" / "0001.png")
    diff = np.abs(a - b).max(axis=2)
    x0, x1, y0, y1 = _box(open_, "left", 0.6)
    changed = diff > 0.04
    assert changed[y0:y1, x0:x1].sum() >= 10  # the eye really closed in the picture
    outside = changed.copy()
    outside[max(y0, 0):y1, max(x0, 0):x1] = False
    assert outside.sum() <= 3, f"{outside.sum()} pixels changed outside the left eye"
    rx0, rx1, ry0, ry1 = _box(open_, "right", 0.3)
    assert diff[ry0:ry1, rx0:rx1].max() < 0.02  # the right eye is untouched beyond noise

    # the picture agrees with the label: where the open eye showed its dark iris/pupil, the shut
    # eye shows lid skin, as bright as the skin just below the eye
    px, py = int(open_["left_pupil_x"]), int(open_["left_pupil_y"])
    iris_open = a[py - 1:py + 2, px - 1:px + 2].mean()
    lid_shut = b[py - 1:py + 2, px - 1:px + 2].mean()
    eye_w = abs(open_["left_outer_x"] - open_["left_inner_x"])
    cheek = b[int(py + 0.6 * eye_w), px - 1:px + 2].mean()
    assert lid_shut > iris_open + 0.1
    assert abs(lid_shut - cheek) < 0.25


def _solid_image(path, rgb, fmt):
    img = bpy.data.images.new("solid", 8, 8, float_buffer=(fmt == "HDR"))
    img.pixels.foreach_set(np.tile(np.array([*rgb, 1.0], np.float32), 64))
    img.filepath_raw = str(path)
    img.file_format = fmt
    img.save()
    bpy.data.images.remove(img)
    return str(path)


@pytest.mark.parametrize("kind", ["image", "hdri"])
def test_user_backgrounds_show_behind_the_head(scene, tmp_path, kind):
    if kind == "image":
        bg = ImageBackground(path=_solid_image(tmp_path / "red.png", (0.9, 0.05, 0.05), "PNG"), world_strength=0.5,
                             blur=0.0, distance_m=0.8, flip=False, zoom=1.0, pan_x=0.0, pan_y=0.0)
    else:
        bg = HdriBackground(path=_solid_image(tmp_path / "green.hdr", (0.05, 0.9, 0.05), "HDR"), rotation_deg=90.0,
                            strength=1.0, world_strength=1.0, blur=0.0, distance_m=0.8)
    spec = _spec(scene, 5, 1, (48, 48))
    spec.background = bg
    scene.render_clip(spec, str(tmp_path / kind))
    corner = _read_png(tmp_path / kind / "0000.png")[:4, :4].reshape(-1, 3).mean(axis=0)
    channel = 0 if kind == "image" else 1
    # AgX tone mapping desaturates a pure bright colour; the hue must still be the file's
    assert corner[channel] > 0.3 and corner[channel] > 1.3 * np.delete(corner, channel).max(), corner


def test_missing_background_file_is_a_clear_error(scene, tmp_path):
    spec = _spec(scene, 5, 1, (32, 32))
    spec.background = ImageBackground(path=str(tmp_path / "nope.png"), blur=0.0, world_strength=0.5, distance_m=0.8,
                                      flip=False, zoom=1.0, pan_x=0.0, pan_y=0.0)
    with pytest.raises(FileNotFoundError, match="nope.png"):
        scene.render_clip(spec, str(tmp_path / "x"))


def test_eye_region_frames_hold_the_whole_trainer_crop_of_a_closed_eye(scene, tmp_path):
    """Eye-region mode renders only a border around the eyes; the trainer's 48x48 crops of a
    closed eye (lid points collapsed onto the lid line) must still lie inside it: no black rows.
    The mode comes from the clip's own render settings (the scene was built for full frames)."""
    from trainer.crops import CropConfig, crop_boxes, crop_eye, read_image

    spec = _spec(scene, 3, 1, (128, 128))
    _framed(spec)
    spec.background = _plain_backdrop((0.4, 0.4, 0.4), (0.6, 0.6, 0.6))
    assert not scene.render_spec.eye_region
    spec.render = dataclasses.replace(spec.render, eye_region=True)
    try:
        rows = scene.render_clip(_Controlled(spec, [{"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}]),
                                 str(tmp_path / "shut"))
        assert scene.render_spec.eye_region
    finally:
        scene.scene.render.use_border = False
    row = rows[0]
    assert row["left_closure"] > 0.95 and row["right_closure"] > 0.95
    img = read_image(str(tmp_path / "shut" / "0000.png"))
    assert img[:4, :4].max() <= 2 and img[-4:, -4:].max() <= 2  # outside the border: not rendered (dither only)
    cfg = CropConfig(size=48)
    for eye in ("left", "right"):
        box = crop_boxes(np.array([[row[f"{eye}_outer_x"], row[f"{eye}_outer_y"]]]),
                         np.array([[row[f"{eye}_inner_x"], row[f"{eye}_inner_y"]]]), cfg)[0]
        crop = crop_eye(img, box, cfg.size)
        unrendered = int((crop.max(axis=2) <= 2).sum())  # black outside the border (dither: 0-1)
        assert unrendered == 0, f"{eye} crop has {unrendered} unrendered (black) pixels"


def test_glasses_change_pixels_round_the_eyes_but_never_the_labels(scene, tmp_path):
    from generator.sampling.identity import sample_identity
    spec = _spec(scene, 4, 2, (96, 96))
    _framed(spec)
    cfg = dataclasses.replace(scene.cfg, identity=dataclasses.replace(scene.cfg.identity, glasses_probability=1.0))
    with_glasses = sample_identity(spec.identity.subject_seed, cfg, spec.identity.subject_id)
    spec.identity = dataclasses.replace(with_glasses, glasses=None)
    bare = scene.render_clip(spec, str(tmp_path / "bare"))
    spec.identity = with_glasses
    worn = scene.render_clip(spec, str(tmp_path / "worn"))
    assert worn == bare  # labels come from the face alone
    pa, pb = _read_png(tmp_path / "bare" / "0000.png"), _read_png(tmp_path / "worn" / "0000.png")
    x0, x1, y0, y1 = _box(bare[0], "left", 1.0)
    assert np.abs(pa - pb)[max(y0, 0):y1, max(x0, 0):x1].max() > 0.1  # the frame shows round the eye


def test_brows_render_above_the_eyes_in_their_colour(scene, tmp_path):
    spec = _spec(scene, 5, 1, (128, 128))
    _framed(spec)
    spec.lights = (AreaLight(power_w=80.0, azimuth_deg=0.0, elevation_deg=15.0, distance_m=1.2, size_m=0.5,
                             colour_temperature_k=5500.0, rgb=kelvin_to_rgb(5500.0)),)
    ident = dataclasses.replace(spec.identity, glasses=None, eyebrow_density=1.0)
    pictures = {}
    for name, colour in (("dark", (0.01, 0.01, 0.01)), ("white", (0.9, 0.9, 0.9))):
        spec.identity = dataclasses.replace(ident, eyebrow_colour=colour)
        rows = scene.render_clip(spec, str(tmp_path / name))
        pictures[name] = _read_png(tmp_path / name / "0000.png").mean(axis=2)
    row = rows[0]
    for eye in ("left", "right"):
        xo, xi = row[f"{eye}_outer_x"], row[f"{eye}_inner_x"]
        w = abs(xo - xi)
        y = (row[f"{eye}_outer_y"] + row[f"{eye}_inner_y"]) / 2
        x0, x1 = int(min(xo, xi)), int(max(xo, xi)) + 1
        brow = slice(int(y - 1.1 * w), int(y - 0.4 * w))  # where the brow lies (0.5-0.8 W up, +- its thickness)
        forehead = slice(int(y - 2.6 * w), int(y - 2.0 * w))
        diff = pictures["white"] - pictures["dark"]
        assert diff[brow, x0:x1].mean() > 0.05  # the brow is there and takes its colour
        assert abs(diff[forehead, x0:x1]).mean() < 0.01  # and nowhere up on the forehead


def test_iris_is_sized_in_eye_widths(scene, tmp_path):
    """The rendered iris spans EyeDetail.iris_width_fraction of the eye's corner distance (real eyes
    ~0.4; the face asset's eyeballs made a 12 mm iris fill ~0.6 of its openings)."""
    spec = _spec(scene, 6, 1, (256, 256))
    _framed(spec)
    spec.lights = (AreaLight(power_w=80.0, azimuth_deg=0.0, elevation_deg=10.0, distance_m=1.2, size_m=0.8,
                             colour_temperature_k=5500.0, rgb=kelvin_to_rgb(5500.0)),)
    red = (0.5, 0.01, 0.01)
    ident = dataclasses.replace(spec.identity, glasses=None, iris_colour=red)
    measured = {}
    for fraction in (0.36, 0.46):
        detail = dataclasses.replace(ident.eye_detail, iris_inner_colour=red, iris_width_fraction=fraction,
                                     limbal_ring=0.1, iris_crypts=0.0, iris_fibre_contrast=0.0)
        spec.identity = dataclasses.replace(ident, eye_detail=detail)
        name = f"f{int(fraction * 100)}"
        row = scene.render_clip(_Controlled(spec, [{}]), str(tmp_path / name))[0]
        img = _read_png(tmp_path / name / "0000.png")
        for eye in ("left", "right"):
            y, xo, xi = int(round(row[f"{eye}_pupil_y"])), row[f"{eye}_outer_x"], row[f"{eye}_inner_x"]
            band = img[y - 1:y + 2, int(min(xo, xi)):int(max(xo, xi)) + 1]
            iris = (band[..., 0] - band[..., 1] > 0.28).any(axis=0)  # red: not the skin, sclera or pupil
            xs = np.flatnonzero(iris)
            assert xs.size, f"no iris seen in the {eye} eye"
            measured[fraction, eye] = (xs[-1] - xs[0] + 1) / abs(xo - xi)
    for (fraction, eye), ratio in measured.items():
        assert ratio == pytest.approx(fraction, abs=0.07), (eye, measured)
    for eye in ("left", "right"):
        assert measured[0.46, eye] > measured[0.36, eye] + 0.04


def test_makeup_closes_with_the_lid(scene, tmp_path):
    """Eyeliner is paint on the lid skin: with the eyes shut it lies along the closed lash line
    (the band between the corners darkens), and the cheek below the eye keeps its colour."""
    from generator.sampling.identity import Makeup

    spec = _spec(scene, 6, 1, (256, 256))
    _framed(spec)
    spec.lights = (AreaLight(power_w=80.0, azimuth_deg=0.0, elevation_deg=10.0, distance_m=1.2, size_m=0.8,
                             colour_temperature_k=5500.0, rgb=kelvin_to_rgb(5500.0)),)
    liner = Makeup(liner_width_m=0.0035, liner_lower=0.0, liner_colour=(0.0, 0.0, 0.0), shadow_amount=0.0,
                   shadow_height=0.3, shadow_colour=(0.2, 0.1, 0.1), mascara=0.0)
    shut = [{"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}]
    img, rows = {}, {}
    for name, makeup in (("bare", None), ("liner", liner)):
        spec.identity = dataclasses.replace(spec.identity, glasses=None, makeup=makeup)
        rows[name] = scene.render_clip(_Controlled(spec, shut), str(tmp_path / name))[0]
        img[name] = _read_png(tmp_path / name / "0000.png").mean(axis=2)
    row = rows["bare"]
    assert row == rows["liner"]  # make-up never changes a label
    for eye in ("left", "right"):
        xo, xi = row[f"{eye}_outer_x"], row[f"{eye}_inner_x"]
        x0, x1 = int(min(xo, xi) + 0.25 * abs(xo - xi)), int(max(xo, xi) - 0.25 * abs(xo - xi))
        y = int(round((row[f"{eye}_upper_y"] + row[f"{eye}_lower_y"]) / 2))
        w = abs(xo - xi)
        line = slice(y - 2, y + 3)
        cheek = slice(y + int(0.5 * w), y + int(0.5 * w) + 3)
        darker = img["bare"][line, x0:x1].mean() - img["liner"][line, x0:x1].mean()
        assert darker > 0.05, (eye, darker)  # the liner is on the closed lid's lash line
        assert abs(img["bare"][cheek, x0:x1].mean() - img["liner"][cheek, x0:x1].mean()) < 0.01
