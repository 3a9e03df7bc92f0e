"""Run a trained model on a video or on a folder of eye images: `python -m trainer.predict`.

    python -m trainer.predict --checkpoint RUN/best.pt INPUT --out DIR [options]

INPUT a video file:
  per frame, a face and its eyes are found (OpenCV Haar cascades, trainer/video.py), eye corners
  are estimated and stabilised over time (missed frames hold the last detection; centred moving
  average), each eye is cropped with the training crop code (trainer/crops.py, the checkpoint's
  crop parameters), and the model runs on sliding windows of T frames (stride 1 by default; a
  frame's closure is the mean over the windows that cover it). Writes DIR/closure.csv (per frame:
  closure and blink probability per eye, detection flag, corners), DIR/events.csv + events.json
  (blink events per eye from the closure by hysteresis) and DIR/overlay.mp4.
  --face-box X Y W H fixes the face box (no face detection; eyes are still searched inside it),
  --landmarks CSV takes per-frame corners from a file with the manifest's column names
  (frame, left_outer_x, ..., right_inner_y), e.g. from a better landmark detector.
INPUT a folder of eye-crop images (searched recursively):
  each image is one eye; it is made into a still sequence (the crop repeated T times) and scored.
  Writes DIR/scores.csv: image, closure (mean predicted closure), blink_prob, label (from a parent
  folder named open/closed, when there is one). This is how zero-shot eye-state accuracy is
  measured (trainer.evaluate_eye_state); never train on such a folder.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from trainer import metrics
from trainer.crops import crop_boxes, crop_eye, read_image
from trainer.outputs import write_csv, write_json
from trainer.evaluate import EVENT_HIGH, EVENT_LOW, checkpoint_crop_config, load_trained_model
from trainer.video import (CORNER_COLUMNS, EYES, FaceEyeDetector, VideoReadError, VideoWriter,
                           iter_video_frames, probe_video, track_landmarks)

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


# ------------------------------------------------------------------------------ scoring
@torch.no_grad()
def score_windows(model: torch.nn.Module, windows: np.ndarray, batch_size: int = 64,
                  device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """uint8 windows [N,T,3,S,S] -> (blink probability [N], closure [N,T])."""
    probs, closures = [], []
    for i in range(0, len(windows), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(windows[i: i + batch_size])).to(device)
        out = model(x)
        probs.append(torch.sigmoid(out["blink_logit"].float()).cpu().numpy())
        closures.append(torch.sigmoid(out["closure_logit"].float()).cpu().numpy())
    if not probs:
        return np.zeros(0), np.zeros((0, windows.shape[1] if windows.ndim > 1 else 0))
    return np.concatenate(probs), np.concatenate(closures)


def window_starts(n: int, window: int, stride: int) -> list[int]:
    """Starts covering frames 0..n-1 (the tail gets a last window ending at n-1)."""
    starts = list(range(0, max(n - window, 0) + 1, stride))
    if n > window and starts[-1] != n - window:
        starts.append(n - window)
    return starts


def per_frame_scores(model, crops: np.ndarray, window: int, stride: int, batch_size: int = 64,
                     device="cpu") -> tuple[np.ndarray, np.ndarray]:
    """Crops of one eye [N,3,S,S] -> per-frame closure (mean over covering windows) and blink
    probability (max over covering windows). Sequences shorter than the window repeat their
    last frame."""
    n = len(crops)
    starts = window_starts(n, window, stride)
    idx = np.clip(np.asarray(starts)[:, None] + np.arange(window)[None], 0, n - 1)
    prob, clos = score_windows(model, crops[idx], batch_size, device)
    closure_sum, count, blink = np.zeros(n), np.zeros(n), np.zeros(n)
    for w, s in enumerate(starts):
        e = min(s + window, n)
        closure_sum[s:e] += clos[w, : e - s]
        count[s:e] += 1
        blink[s:e] = np.maximum(blink[s:e], prob[w])
    return closure_sum / np.maximum(count, 1), blink


# -------------------------------------------------------------------------------- video
def _landmarks_from_csv(path: str, n_frames: int) -> pd.DataFrame:
    df = pd.read_csv(path)
    missing = [c for c in ["frame", *CORNER_COLUMNS] if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: landmarks CSV lacks column(s) {missing}")
    df = df.set_index("frame").reindex(range(n_frames))
    out = df[CORNER_COLUMNS].ffill().bfill().reset_index(drop=True)
    if out.isna().any().any():
        raise ValueError(f"{path}: no usable landmark rows for frames 0..{n_frames - 1}")
    out["detected"] = df[CORNER_COLUMNS].notna().all(axis=1).astype(int).to_numpy()
    return out


def _box_polygon(box) -> np.ndarray:
    cx, cy, side, angle = box
    c, s = np.cos(angle), np.sin(angle)
    half = side / 2
    pts = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    rot = np.array([[c, -s], [s, c]])
    return (pts @ rot.T + [cx, cy]).astype(np.int32)


def predict_video(checkpoint: str, video: str, out_dir: str, stride: int = 1, smooth: int = 5,
                  face_box=None, landmarks_csv: str | None = None, overlay: bool = True,
                  batch_size: int = 64, device: str = "cpu", progress: bool = False,
                  event_high: float = EVENT_HIGH, event_low: float = EVENT_LOW) -> dict:
    from tqdm.auto import tqdm

    info = probe_video(video)  # VideoReadError naming the file when unreadable
    model, ckpt = load_trained_model(checkpoint, device)
    crop_cfg = checkpoint_crop_config(ckpt)
    if crop_cfg.center != "corners":  # only corners are estimated from video
        from dataclasses import replace
        crop_cfg = replace(crop_cfg, center="corners")
    window = int(model.window)
    fps = info["fps"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # pass 1: landmarks per frame
    if landmarks_csv is None:
        detector = FaceEyeDetector()
        detections, eyes_found, previous = [], [], None
        for rgb in tqdm(iter_video_frames(video), desc="detect", total=info["frames"] or None,
                        disable=not progress):
            d = detector.landmarks(rgb, face=face_box, previous_face=previous)
            previous = d["face"] if d else previous  # follow one face through the video
            detections.append(d)
            eyes_found.append(",".join(d["eyes_found"]) if d else "")
        try:
            track = track_landmarks(detections, smooth)
        except ValueError:
            raise VideoReadError(f"{video}: no face detected in any of {len(detections)} frames; "
                                 f"pass --face-box X Y W H or --landmarks CSV") from None
        track["eyes_found"] = eyes_found
    else:
        n = sum(1 for _ in iter_video_frames(video))
        track = _landmarks_from_csv(landmarks_csv, n)
        track["eyes_found"] = ""
    n = len(track)

    # pass 2: crops with the training crop code, then sliding-window scores
    boxes = {eye: crop_boxes(track[[f"{eye}_outer_x", f"{eye}_outer_y"]].to_numpy(),
                             track[[f"{eye}_inner_x", f"{eye}_inner_y"]].to_numpy(), crop_cfg)
             for eye in EYES}
    crops = {eye: np.zeros((n, 3, crop_cfg.size, crop_cfg.size), np.uint8) for eye in EYES}
    for t, rgb in enumerate(tqdm(iter_video_frames(video), desc="crop", total=n, disable=not progress)):
        if t >= n:
            break
        for eye in EYES:
            crops[eye][t] = crop_eye(rgb, boxes[eye][t], crop_cfg.size).transpose(2, 0, 1)
    table = pd.DataFrame({"frame": np.arange(n), "time_s": np.arange(n) / fps})
    events = []
    for eye in EYES:
        closure, blink = per_frame_scores(model, crops[eye], window, stride, batch_size, device)
        table[f"{eye}_closure"] = np.round(closure, 5)
        table[f"{eye}_blink_prob"] = np.round(blink, 5)
        for s, e in metrics.events_from_closure(closure, event_high, event_low):
            peak = s + int(np.argmax(closure[s:e]))
            events.append(dict(eye=eye, start_frame=s, end_frame=e, peak_frame=peak,
                               peak_closure=round(float(closure[peak]), 4),
                               blink_prob=round(float(blink[s:e].max()), 4),
                               start_s=round(s / fps, 4), end_s=round(e / fps, 4),
                               duration_ms=round(1000 * (e - s) / fps, 1)))
    table["detected"] = track["detected"].to_numpy()
    table["eyes_found"] = track["eyes_found"].to_numpy()
    for c in CORNER_COLUMNS:
        table[c] = np.round(track[c].to_numpy(), 2)
    events_df = pd.DataFrame(events, columns=["eye", "start_frame", "end_frame", "peak_frame", "peak_closure",
                                              "blink_prob", "start_s", "end_s", "duration_ms"])
    events_df = events_df.sort_values(["start_frame", "eye"]).reset_index(drop=True)
    write_csv(table, out / "closure.csv")
    write_csv(events_df, out / "events.csv")
    summary = dict(video=str(video), checkpoint=str(checkpoint), fps=fps, frames=n, window=window,
                   stride=stride, detected_frames=int(track["detected"].sum()),
                   event_thresholds=dict(high=event_high, low=event_low), events=events_df.to_dict("records"))
    write_json(summary, out / "events.json")

    # pass 3: overlay video
    if overlay:
        in_event = {eye: np.zeros(n, bool) for eye in EYES}
        for ev in events:
            in_event[ev["eye"]][ev["start_frame"]: ev["end_frame"]] = True
        with VideoWriter(out / "overlay.mp4", fps) as writer:
            for t, rgb in enumerate(iter_video_frames(video)):
                if t >= n:
                    break
                writer.write(draw_overlay(rgb, t, boxes, crops, table, in_event))
    return summary


def draw_overlay(rgb: np.ndarray, t: int, boxes, crops, table: pd.DataFrame, in_event) -> np.ndarray:
    img = rgb.copy()
    h, w = img.shape[:2]
    scale = max(0.35, min(w, h) / 600)
    inset = max(32, min(w, h) // 5)
    for k, eye in enumerate(EYES):
        red = bool(in_event[eye][t])
        colour = (255, 40, 40) if red else (40, 255, 40)
        cv2.polylines(img, [_box_polygon(boxes[eye][t])], True, colour, max(1, int(2 * scale)))
        # the crop the model saw, top corner on the eye's side (subject's right eye = image left)
        crop = cv2.resize(crops[eye][t].transpose(1, 2, 0), (inset, inset), interpolation=cv2.INTER_NEAREST)
        x0 = 0 if eye == "right" else w - inset
        if inset < h and inset < w:
            img[:inset, x0: x0 + inset] = crop
        label = f"{eye[0].upper()} {table[f'{eye}_closure'].iat[t]:.2f}" + (" BLINK" if red else "")
        cv2.putText(img, label, (4 if eye == "right" else max(0, w - int(170 * scale)), min(h - 4, inset + int(22 * scale))),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, colour, max(1, int(2 * scale)), cv2.LINE_AA)
    return img


# ------------------------------------------------------------------------------- images
def list_images(folder: str | os.PathLike) -> list[Path]:
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def label_from_path(path: Path) -> float:
    """1 for a parent folder named like 'closed', 0 for 'open', NaN otherwise."""
    for part in reversed(path.parent.parts):
        name = part.lower()
        if "close" in name:
            return 1.0
        if "open" in name:
            return 0.0
    return float("nan")


def crop_still(rgb: np.ndarray, size: int, fit: str, crop_cfg) -> np.ndarray:
    """An eye-crop image -> uint8 [3,S,S]. fit='square': the centred square, resized (the image IS
    the eye crop); fit='corners': corners at the left/right image edges at mid-height, cut with the
    training crop geometry (as the eye-state manifest adapter labels such images)."""
    h, w = rgb.shape[:2]
    if fit == "square":
        side = min(h, w)
        y0, x0 = (h - side) // 2, (w - side) // 2
        sq = rgb[y0: y0 + side, x0: x0 + side]
        interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        return cv2.resize(sq, (size, size), interpolation=interp).transpose(2, 0, 1)
    if fit == "corners":
        box = crop_boxes(np.array([[0.0, h / 2]]), np.array([[float(w), h / 2]]), crop_cfg)[0]
        return crop_eye(rgb, box, size).transpose(2, 0, 1)
    raise ValueError(f"image fit: must be 'square' or 'corners', got {fit!r}")


def predict_images(checkpoint: str, folder: str, out_dir: str | None = None, fit: str = "square",
                   batch_size: int = 64, device: str = "cpu", progress: bool = False) -> pd.DataFrame:
    """Score every image of `folder` as a still sequence; writes out_dir/scores.csv when given."""
    from tqdm.auto import tqdm

    paths = list_images(folder)
    if not paths:
        raise FileNotFoundError(f"{folder}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) found")
    model, ckpt = load_trained_model(checkpoint, device)
    crop_cfg = checkpoint_crop_config(ckpt)
    window, size = int(model.window), int(model.crop_size)
    rows = []
    for i in tqdm(range(0, len(paths), batch_size), desc="score", disable=not progress):
        chunk = paths[i: i + batch_size]
        stills = np.stack([crop_still(read_image(p), size, fit, crop_cfg) for p in chunk])
        windows = np.repeat(stills[:, None], window, axis=1)  # a still sequence: the eye does not move
        prob, clos = score_windows(model, windows, batch_size, device)
        for p, b, c in zip(chunk, prob, clos):
            rows.append(dict(image=str(p.relative_to(folder)), closure=round(float(c.mean()), 5),
                             blink_prob=round(float(b), 5), label=label_from_path(p.relative_to(folder))))
    df = pd.DataFrame(rows)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        write_csv(df, Path(out_dir) / "scores.csv")
    return df


# ---------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", help="trained model (default: the shipped one, trainer/weights/)")
    p.add_argument("input", help="a video file, or a folder of eye-crop images")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--stride", type=int, default=1, help="sliding-window stride in frames (video)")
    p.add_argument("--smooth", type=int, default=5, help="moving-average length of eye corners in frames (video)")
    p.add_argument("--face-box", type=float, nargs=4, metavar=("X", "Y", "W", "H"),
                   help="fixed face box in pixels instead of face detection (video)")
    p.add_argument("--landmarks", help="CSV of per-frame eye corners, manifest column names (video)")
    p.add_argument("--no-overlay", action="store_true", help="skip the overlay video")
    p.add_argument("--image-fit", choices=["square", "corners"], default="square", help="(image folder)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--event-high", type=float, default=EVENT_HIGH, help="closure that makes a blink event (video)")
    p.add_argument("--event-low", type=float, default=EVENT_LOW, help="closure under which an event ends (video)")
    p.add_argument("--device", default="auto", help="auto: cuda if available, else cpu")
    p.add_argument("--progress", action="store_true")
    a = p.parse_args(argv)
    if a.stride < 1 or a.smooth < 1:
        p.error(f"--stride and --smooth must be >= 1, got {a.stride}, {a.smooth}")
    if not 0 <= a.event_low <= a.event_high <= 1:
        p.error(f"need 0 <= --event-low <= --event-high <= 1, got {a.event_low}, {a.event_high}")
    if a.device == "auto":
        a.device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        if a.checkpoint is None:  # the shipped synthetic-only model (trainer/shipped.py)
            from trainer.shipped import default_checkpoint_path
            a.checkpoint = str(default_checkpoint_path())
        if os.path.isdir(a.input):
            df = predict_images(a.checkpoint, a.input, a.out, a.image_fit, a.batch_size, a.device, a.progress)
            print(f"{len(df)} images scored: mean closure {df['closure'].mean():.3f}; {Path(a.out) / 'scores.csv'}")
        else:
            s = predict_video(a.checkpoint, a.input, a.out, a.stride, a.smooth, a.face_box, a.landmarks,
                              not a.no_overlay, a.batch_size, a.device, a.progress, a.event_high, a.event_low)
            n_ev = pd.Series([e["eye"] for e in s["events"]], dtype=str).value_counts().to_dict()
            print(f"{s['frames']} frames ({s['detected_frames']} with a face), blink events per eye: {n_ev}; "
                  f"outputs in {a.out}")
    except (OSError, ValueError) as e:  # VideoReadError, FrameReadError, missing files: named
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
