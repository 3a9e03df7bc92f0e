"""A tiny, valid, learnable dataset drawn with numpy: for tests of everything that reads manifests.

Each frame is a small face-coloured image with two cartoon eyes (sclera ellipse, iris, pupil)
whose lids close exactly as the labelled closure says, at the landmark positions written to
frames.csv. Blink clips hold one blink event (both eyes, closing faster than opening, peak at
frame 4..8 of 13, eyes open again by the last frame); non-blink clips hold open eyes with small aperture jitter (never a blink).
So a trainer can learn closure and blink from it in seconds, and every label matches the pixels.

    from manifests.synthetic import write_tiny_dataset
    root = write_tiny_dataset("/tmp/tiny")      # 2 subjects x 2 clips x 13 frames, 96x96
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from manifests import schema
from manifests.io import write_csv

SUPERSAMPLE = 3  # draw at 3x and downsample with INTER_AREA: smooth lid edges without a rasteriser


def blink_curve(n_frames: int, rng: np.random.Generator, peak: float = 1.0):
    """One blink event inside `n_frames`: (closure[T], phase[T], blink_id[T]).

    Closing takes 2-3 frames, the lids stay closed 0-2 frames, opening takes 3-5 frames (slower
    than closing, as in real blinks); the first closed frame lies at index 4..8 (as in SynBlink-50K) and the eye is open again
    before the clip ends, so the event is whole (cut_event 0)."""
    closing = int(rng.integers(2, 4))
    hold = int(rng.integers(0, 3))
    opening = int(rng.integers(3, 6))
    # the whole event (open before, open again after) must fit so that the clip does not cut it
    last_peak = min(8, n_frames - 2 - hold - opening)
    if last_peak < closing + 1:
        raise ValueError(f"n_frames={n_frames} is too short to hold a whole blink event")
    peak_t = int(rng.integers(min(4, last_peak), last_peak + 1))
    start = peak_t - closing  # last open frame before the event
    closure = np.zeros(n_frames)
    phase = np.array(["open"] * n_frames, dtype=object)
    for t in range(n_frames):
        if start < t < peak_t:
            closure[t] = peak * 0.5 * (1 - np.cos(np.pi * (t - start) / closing))
            phase[t] = "closing"
        elif peak_t <= t <= peak_t + hold:
            closure[t], phase[t] = peak, "closed"
        elif peak_t + hold < t < peak_t + hold + opening:
            u = (t - peak_t - hold) / opening
            closure[t], phase[t] = peak * 0.5 * (1 + np.cos(np.pi * u)), "opening"
    blink_id = np.where(phase == "open", schema.NO_EVENT, 0)
    return closure, phase, blink_id


def eye_geometry(cx, cy, half_w, half_h, closure, side):
    """Landmarks (pixels) of one eye. `side` is the subject's eye: the subject's right eye is on
    the image's left, so its outer (lateral) corner has the smaller x."""
    sign = -1.0 if side == "right" else 1.0
    meet = cy + 0.3 * half_h  # the lids meet a little below the centre: the upper lid moves most
    upper_y = (cy - half_h) + closure * (meet - (cy - half_h))
    lower_y = (cy + half_h) + closure * (meet - (cy + half_h))
    return {
        "outer": (cx + sign * half_w, cy), "inner": (cx - sign * half_w, cy),
        "upper": (cx, upper_y), "lower": (cx, lower_y), "pupil": (cx, cy),
    }


def draw_face(size, skin, eyes, iris_rgb, rng) -> np.ndarray:
    """RGB uint8 image of a face patch with the given eyes [(geometry, half_w, half_h), ...]."""
    s = size * SUPERSAMPLE
    yy, xx = (np.mgrid[0:s, 0:s] + 0.5) / SUPERSAMPLE
    shade = 1.0 - 0.15 * ((yy / size) - 0.5)  # light from above
    img = np.asarray(skin, float)[None, None, :] * shade[..., None]
    for g, half_w, half_h in eyes:
        cx, cy = g["pupil"]
        u = (xx - cx) / half_w  # -1..1 across the eye
        inside_x = np.abs(u) < 1
        bow = np.clip(1 - u ** 2, 0, None)
        upper = cy + (g["upper"][1] - cy) * bow  # parabolic lid margins through the corners
        lower = cy + (g["lower"][1] - cy) * bow
        opening = inside_x & (yy > upper) & (yy < lower)
        r_iris = 0.55 * half_h
        d = np.hypot(xx - cx, yy - cy)
        eye_rgb = np.where((d < r_iris)[..., None], np.asarray(iris_rgb, float), 235.0)
        eye_rgb = np.where((d < 0.45 * r_iris)[..., None], 15.0, eye_rgb)
        img = np.where(opening[..., None], eye_rgb, img)
        lash = inside_x & (np.abs(yy - upper) < 0.9) & (bow > 0.02)  # dark upper lash line
        img = np.where(lash[..., None], 40.0, img)
        crease = inside_x & (np.abs(yy - (cy - 1.6 * half_h * bow)) < 0.5)  # lid crease, fixed
        img = np.where(crease[..., None], img * 0.8, img)
    img = cv2.resize(img.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    img += rng.normal(0, 3.0, img.shape)  # sensor noise
    return np.clip(img, 0, 255).astype(np.uint8)


def write_tiny_dataset(root, n_subjects: int = 2, clips_per_subject: int = 2, n_frames: int = 13,
                       size: int = 96, fps: float = 30.0, seed: int = 0, split: bool = False):
    """Write a valid dataset under `root` (created) and return its Path.

    Clips alternate blink / non-blink within each subject (the first is a blink), so every
    subject has both kinds. `split=True` also writes a subject-disjoint `split` column."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    frame_rows, clip_rows = [], []
    for s in range(n_subjects):
        subject_id = f"subject_{s:03d}"
        skin = rng.uniform([150, 100, 80], [235, 190, 160])
        iris = rng.uniform(30, 150, 3)
        half_w, half_h = size * rng.uniform(0.11, 0.13), size * rng.uniform(0.055, 0.07)
        for c in range(clips_per_subject):
            clip_index = s * clips_per_subject + c
            clip_id = f"{seed:04d}_{clip_index:07d}"
            blink = int(c % 2 == 0)
            if blink:
                peak = float(rng.uniform(0.9, 1.0)) if rng.random() < 0.5 else 1.0
                closure, phase, blink_id = blink_curve(n_frames, rng, peak)
            else:  # open eyes with small aperture changes: not a blink
                closure = np.clip(rng.normal(0.05, 0.03, n_frames), 0, 0.15)
                phase = np.array(["open"] * n_frames, dtype=object)
                blink_id = np.full(n_frames, schema.NO_EVENT)
            # the head sits at a random place and drifts a little during the clip
            head = np.array([size * 0.5, size * 0.45]) + rng.uniform(-0.06, 0.06, 2) * size
            drift = rng.uniform(-0.3, 0.3, 2)
            eye_dx = size * rng.uniform(0.18, 0.2)
            yaw, pitch, roll = rng.uniform(-5, 5, 3)
            (root / schema.FRAMES_DIR / clip_id).mkdir(parents=True, exist_ok=True)
            for t in range(n_frames):
                hx, hy = head + drift * t
                row = schema.empty_frame_row()
                geoms = []
                for eye in schema.EYES:
                    cx = hx - eye_dx if eye == "right" else hx + eye_dx  # subject's right = image left
                    g = eye_geometry(cx, hy, half_w, half_h, closure[t], eye)
                    geoms.append((g, half_w, half_h))
                    row[f"{eye}_closure"] = round(float(closure[t]), 4)
                    row[f"{eye}_phase"] = phase[t]
                    row[f"{eye}_blink_id"] = int(blink_id[t])
                    for name, (x, y) in g.items():
                        row[f"{eye}_{name}_x"], row[f"{eye}_{name}_y"] = round(x, 3), round(y, 3)
                    row[f"{eye}_visible"] = 1
                image = schema.frame_image_path(clip_id, t)
                rgb = draw_face(size, skin, geoms, iris, rng)
                cv2.imwrite(str(root / image), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                row.update(clip_id=clip_id, frame=t, image=image, width=size, height=size, fps=fps,
                           subject_id=subject_id, blink=blink, head_yaw=round(yaw, 3),
                           head_pitch=round(pitch, 3), head_roll=round(roll, 3),
                           gaze_yaw=0.0, gaze_pitch=0.0)
                row.pop("video"), row.pop("video_frame"), row.pop("split")
                frame_rows.append(row)
            clip_rows.append({
                "clip_id": clip_id, "subject_id": subject_id, "n_frames": n_frames, "fps": fps,
                "width": size, "height": size, "blink": blink, "cut_event": 0,
                # sampled parameters, free-form (the contract keeps extra columns)
                "skin_r": round(skin[0], 2), "skin_g": round(skin[1], 2), "skin_b": round(skin[2], 2),
                "eye_half_width": round(half_w, 3), "eye_half_height": round(half_h, 3),
                "peak_closure": round(float(closure.max()), 4),
            })
    frames = pd.DataFrame(frame_rows)
    clips = pd.DataFrame(clip_rows)
    if split:
        from manifests.split import split as split_frames
        frames = split_frames(frames)
        clips["split"] = clips["clip_id"].map(frames.groupby("clip_id")["split"].first())
    write_csv(clips, root / schema.CLIPS_CSV)
    write_csv(frames, root / schema.FRAMES_CSV)  # last: its presence means the dataset is complete
    return root
