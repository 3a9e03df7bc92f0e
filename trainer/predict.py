"""Run a trained model on a video or on a folder of eye images: `python -m trainer.predict`.

    python -m trainer.predict --checkpoint RUN/best.pt INPUT --out DIR [options]
    python -m trainer.predict --method ear VIDEO --out DIR

INPUT a video file (decoded once):
  per frame, MediaPipe FaceMesh follows one face (trainer/landmarks.py; the full-range face
  detector re-finds it when lost); each eye is cropped from its corners (33/133, 263/362, averaged
  over --smooth centred frames) with the training crop code and the checkpoint's crop parameters,
  and the model runs on sliding windows of T frames (stride 1 by default; a frame's closure is
  the mean over the windows that cover it). --method ear needs no checkpoint: the eye aspect
  ratio of the same landmarks (trainer/ear.py). Either way, blink events come from the closure by
  trainer/events.py (relative to a local open baseline, must reopen within the longest
  synthetic blink, both eyes merged into one event, no events across frames without a face).
  Writes DIR/closure.csv (per frame: time, face flag, closure per eye, corners), DIR/events.csv
  (one row per event: eyes both/left/right, blink = both eyes, inclusive start/end frames and
  each eye's own interval), DIR/events.json (summary: faces seen, which face was followed, the
  event settings, the events); --overlay adds DIR/overlay.mp4.
  --landmarks CSV takes per-frame corners from a file with the manifest's column names
  (frame, left_outer_x, ..., right_inner_y) instead of FaceMesh; frames it lacks are gaps.
INPUT a folder of eye-crop images (searched recursively):
  each image is one eye; it is made into a still sequence (the crop repeated T times) and scored.
  Writes DIR/scores.csv: image, closure (mean predicted closure), blink_prob, label (from a parent
  folder named open/closed, when there is one). This is how zero-shot eye-state accuracy is
  measured (trainer.evaluate_eye_state); never train on such a folder.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from manifests.cli_errors import one_line_errors
from manifests.schema import IMAGE_EXTENSIONS
from trainer.crops import CropConfig, crop_boxes, crop_eye, read_image
from trainer.ear import EAR_EVENTS, ear_closure
from trainer.checkpoint import checkpoint_crop_config, load_trained_model
from trainer.events import EVENT_HIGH, EVENT_LOW, EventConfig, decode_blinks, events_table, synthetic_max_blink_s
from trainer.landmarks import CORNER_IDS, LANDMARK_IDS, SOURCE_MESH, SOURCE_NONE, FaceTracker, column
from trainer.outputs import write_csv, write_json
from trainer.video import CORNER_COLUMNS, EYES, VideoReadError, VideoWriter, frame_times, iter_video_frames, probe_video


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


def _is_blinkformer(model) -> bool:
    from trainer.models.blinkformer import BlinkFormer

    return isinstance(model, BlinkFormer)


@torch.no_grad()
def blinkformer_windows(model, crops: np.ndarray, starts: np.ndarray, batch_size: int = 64,
                        device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """BlinkFormer on all windows at once, each frame encoded ONCE: the frame encoder (flatten +
    Linear, or the CNN) runs per frame, then the temporal blocks per window on the shared frame
    tokens. The same computation as BlinkFormer.forward_tokens (test_predict checks it), T times
    less frame encoding at stride 1: what makes a CNN frame encoder usable on video."""
    frames = []
    for i in range(0, len(crops), 4 * batch_size):
        x = model.normalize(torch.from_numpy(np.ascontiguousarray(crops[i: i + 4 * batch_size]))[:, None].to(device))
        frames.append(model.frame_embed(x.flatten(2))[:, 0] if model.cnn is None
                      else model.frame_embed(model.cnn(x.flatten(0, 1))))
    tokens = torch.cat(frames)
    window = int(model.window)
    idx = torch.from_numpy(np.clip(starts[:, None] + np.arange(window)[None], 0, len(crops) - 1))
    probs, closures = [], []
    for i in range(0, len(idx), batch_size):
        t = tokens[idx[i: i + batch_size]]
        x = torch.cat([model.cls_token.expand(len(t), -1, -1), t], dim=1) + model._pos_embed(window)
        x = model.norm(model.blocks(model.pos_drop(x)))
        probs.append(torch.sigmoid(model.blink_head(x[:, 0]).squeeze(-1).float()).cpu().numpy())
        closures.append(torch.sigmoid(model.closure_head(x[:, 1:]).squeeze(-1).float()).cpu().numpy())
    return np.concatenate(probs), np.concatenate(closures)


def per_frame_scores(model, crops: np.ndarray, window: int, stride: int, batch_size: int = 64,
                     device="cpu") -> tuple[np.ndarray, np.ndarray]:
    """Crops of one eye [N,3,S,S] -> per-frame closure (mean over covering windows) and blink
    probability (max over covering windows). Sequences shorter than the window repeat their
    last frame."""
    n = len(crops)
    starts = window_starts(n, window, stride)
    if _is_blinkformer(model) and int(model.window) == window:
        prob, clos = blinkformer_windows(model, crops, np.asarray(starts), batch_size, device)
    else:
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
@dataclass(frozen=True)
class VideoTrack:
    """Pass 1 of a video (decoded once): the followed face's landmarks and the eye crops."""
    points: np.ndarray                  # [N, len(LANDMARK_IDS), 2] pixels; NaN where no face
    source: np.ndarray                  # [N] SOURCE_* of trainer.landmarks (0: no face)
    times_s: np.ndarray                 # [N] presentation times from 0 (variable frame rate kept)
    fps: float                          # nominal (container) frame rate
    width: int
    height: int
    max_faces: int                      # most faces seen in one frame (several: one is followed)
    crops: dict | None                  # eye -> uint8 [N, 3, S, S], or None (no crops asked)
    boxes: dict | None                  # eye -> [N, 4] crop boxes (NaN where none)

    @property
    def detected(self) -> np.ndarray:
        return self.source > 0

    def corners(self, eye: str) -> tuple[np.ndarray, np.ndarray]:
        outer, inner = CORNER_IDS[eye]
        return self.points[:, column(outer)], self.points[:, column(inner)]


def _points_from_corner_table(df: pd.DataFrame) -> np.ndarray:
    pts = np.full((len(df), len(LANDMARK_IDS), 2), np.nan, np.float32)
    for eye in EYES:
        for part, idx in zip(("outer", "inner"), CORNER_IDS[eye]):
            pts[:, column(idx)] = df[[f"{eye}_{part}_x", f"{eye}_{part}_y"]].to_numpy(np.float32)
    return pts


def read_landmarks_csv(path: str) -> pd.DataFrame:
    """Per-frame eye corners (manifest column names, `frame` 0-based) indexed by frame."""
    df = pd.read_csv(path)
    missing = [c for c in ["frame", *CORNER_COLUMNS] if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: landmarks CSV lacks column(s) {missing}")
    frames = pd.to_numeric(df["frame"], errors="coerce")
    if frames.isna().any() or frames.duplicated().any():
        raise ValueError(f"{path}: column 'frame' must hold distinct frame numbers")
    return df.set_index(frames.astype(int))


def track_video(video: str, crop_cfg: CropConfig | None = None, smooth: int = 5,
                landmarks: pd.DataFrame | None = None, progress: bool = False) -> VideoTrack:
    """Decode once: landmarks per frame (FaceMesh, or `landmarks` corners given per frame), and
    with `crop_cfg` each eye cropped with the training crop code from corners averaged over
    `smooth` centred frames (frames wait in a short buffer until their neighbours are known)."""
    from tqdm.auto import tqdm

    info = probe_video(video)
    half = smooth // 2
    points, sources, times, crops, boxes = [], [], [], {e: [] for e in EYES}, {e: [] for e in EYES}
    pending: deque = deque()

    def crop_ready(t: int) -> None:
        lo, hi = max(0, t - half), min(len(points), t + half + 1)
        seg = np.stack(points[lo:hi])
        for eye in EYES:
            o, i = (column(k) for k in CORNER_IDS[eye])
            ok = np.isfinite(seg[:, [o, i]]).all(axis=(1, 2))
            if not ok.any():
                boxes[eye].append(np.full(4, np.nan))
                crops[eye].append(np.zeros((3, crop_cfg.size, crop_cfg.size), np.uint8))
                continue
            box = crop_boxes(seg[ok, o].mean(0, keepdims=True), seg[ok, i].mean(0, keepdims=True), crop_cfg)[0]
            boxes[eye].append(box)
            crops[eye].append(crop_eye(rgb_of[t], box, crop_cfg.size).transpose(2, 0, 1))

    rgb_of: dict[int, np.ndarray] = {}
    tracker = FaceTracker() if landmarks is None else None
    given = dict(zip(landmarks.index, _points_from_corner_table(landmarks))) if landmarks is not None else {}
    try:
        frames = iter_video_frames(video, with_times=True)
        for t, (rgb, ts) in enumerate(tqdm(frames, desc="track", total=info["frames"] or None, disable=not progress)):
            times.append(ts)
            if tracker is not None:
                f = tracker.process(rgb)
                points.append(f.points if f is not None else np.full((len(LANDMARK_IDS), 2), np.nan, np.float32))
                sources.append(f.source if f is not None else SOURCE_NONE)
            else:
                pts = given.get(t, np.full((len(LANDMARK_IDS), 2), np.nan, np.float32))
                points.append(pts)
                sources.append(SOURCE_MESH if np.isfinite(pts[column(33)]).all() else SOURCE_NONE)
            if crop_cfg is not None:
                rgb_of[t] = rgb
                pending.append(t)
                while pending and pending[0] <= t - half:
                    crop_ready(pending[0])
                    del rgb_of[pending.popleft()]
        while crop_cfg is not None and pending:
            crop_ready(pending[0])
            del rgb_of[pending.popleft()]
    finally:
        if tracker is not None:
            tracker.close()
    n = len(points)
    source = np.asarray(sources, np.int8)
    if not (source > 0).any():
        raise VideoReadError(f"{video}: no face found in any of its {n} frames")
    if crop_cfg is not None:  # frames with no eye box repeat the nearest cropped frame: a window
        for eye in EYES:      # reaching into a gap sees a still eye, not a black square
            have = np.flatnonzero(np.isfinite(np.stack(boxes[eye])).all(axis=1))
            nearest = have[np.clip(np.searchsorted(have, np.arange(n)), 0, len(have) - 1)]
            prev = have[np.clip(np.searchsorted(have, np.arange(n)) - 1, 0, len(have) - 1)]
            nearest = np.where(np.abs(prev - np.arange(n)) <= np.abs(nearest - np.arange(n)), prev, nearest)
            crops[eye] = [crops[eye][k] for k in nearest]
    return VideoTrack(points=np.stack(points), source=source, times_s=frame_times(times, info["fps"]),
                      fps=info["fps"], width=info["width"], height=info["height"],
                      max_faces=tracker.max_faces_seen if tracker is not None else 1,
                      crops={e: np.stack(crops[e]) for e in EYES} if crop_cfg is not None else None,
                      boxes={e: np.stack(boxes[e]) for e in EYES} if crop_cfg is not None else None)


def model_event_config(ckpt: dict, high: float | None = None, low: float | None = None) -> EventConfig:
    """Event thresholds of the model: given, else the checkpoint's, else the trainer's defaults
    (the closure scale the model was trained on: half closed starts a blink)."""
    saved = dict(ckpt.get("event_thresholds") or {})
    return EventConfig(high=high if high is not None else float(saved.get("high", EVENT_HIGH)),
                       low=low if low is not None else float(saved.get("low", EVENT_LOW)),
                       min_frames=1, max_duration_s=round(synthetic_max_blink_s(), 3))


@dataclass(frozen=True)
class VideoResult:
    table: pd.DataFrame            # closure.csv: one row per frame
    events: pd.DataFrame           # events.csv: one row per event (eyes both/left/right)
    summary: dict                  # events.json


def analyse_track(track: VideoTrack, method: str, model=None, stride: int = 1, batch_size: int = 64,
                  device: str = "cpu", events_cfg: EventConfig | None = None, video: str = "",
                  checkpoint: str = "") -> VideoResult:
    """Per-frame closure (model or EAR), then blink events (trainer.events)."""
    n = len(track.source)
    detected = track.detected
    table = pd.DataFrame({"frame": np.arange(n), "time_s": np.round(track.times_s, 4),
                          "detected": detected.astype(int), "landmark_source": track.source.astype(int)})
    closure = {}
    for eye in EYES:
        if method == "model":
            c, blink = per_frame_scores(model, track.crops[eye], int(model.window), stride, batch_size, device)
            table[f"{eye}_blink_prob"] = np.where(detected, np.round(blink, 5), np.nan)
        else:
            c, ear = ear_closure(track.points, eye)
            table[f"{eye}_ear"] = np.round(ear, 4)
        closure[eye] = np.where(detected, c, np.nan)  # no face: a gap, never a closure
        table[f"{eye}_closure"] = np.round(closure[eye], 5)
    cfg = events_cfg or EAR_EVENTS
    events, rel = decode_blinks(closure, track.times_s, cfg, track.fps)
    for eye in EYES:
        table[f"{eye}_relative_closure"] = np.round(rel[eye], 5)
        outer, inner = track.corners(eye)
        for part, xy in (("outer", outer), ("inner", inner)):
            table[f"{eye}_{part}_x"], table[f"{eye}_{part}_y"] = np.round(xy[:, 0], 2), np.round(xy[:, 1], 2)
    events_df = events_table(events, track.times_s)
    first = int(np.argmax(detected))
    pts = track.points[first][np.isfinite(track.points[first]).all(1)]
    summary = dict(video=str(video), method=method, checkpoint=str(checkpoint) if method == "model" else None,
                   fps=track.fps, frames=n, width=track.width, height=track.height,
                   detected_frames=int(detected.sum()), faces_seen=int(track.max_faces),
                   followed_face_first_frame=first,
                   followed_face_eyes_xy=[round(float(v), 1) for v in pts.mean(0)],
                   events_config=dataclasses.asdict(cfg), blinks=int(events_df["blink"].sum()),
                   one_eye_events=int((events_df["blink"] == 0).sum()), events=events_df.to_dict("records"))
    return VideoResult(table=table, events=events_df, summary=summary)


def predict_video(checkpoint: str | None, video: str, out_dir: str, method: str = "model", stride: int = 1,
                  smooth: int = 5, landmarks_csv: str | None = None, overlay: bool = False,
                  batch_size: int = 64, device: str = "cpu", progress: bool = False,
                  event_high: float | None = None, event_low: float | None = None) -> dict:
    """Run one video end to end and write closure.csv, events.csv, events.json (+ overlay.mp4)."""
    probe_video(video)  # VideoReadError naming the file when unreadable, before any model work
    model = ckpt = crop_cfg = None
    if method == "model":
        if checkpoint is None:
            raise ValueError("--method model needs --checkpoint")
        model, ckpt = load_trained_model(checkpoint, device)
        crop_cfg = replace(checkpoint_crop_config(ckpt), center="corners")  # only corners are tracked
        cfg = model_event_config(ckpt, event_high, event_low)
    elif method == "ear":
        if landmarks_csv is not None:
            raise ValueError("--method ear needs the lid points of FaceMesh, not --landmarks corners")
        cfg = replace(EAR_EVENTS, **{k: v for k, v in (("high", event_high), ("low", event_low)) if v is not None})
    else:
        raise ValueError(f"method: must be 'model' or 'ear', got {method!r}")
    landmarks = read_landmarks_csv(landmarks_csv) if landmarks_csv is not None else None
    track = track_video(video, crop_cfg, smooth, landmarks, progress)
    result = analyse_track(track, method, model, stride, batch_size, device, cfg, video, checkpoint or "")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(result.table, out / "closure.csv")
    write_csv(result.events, out / "events.csv")
    write_json(result.summary, out / "events.json")
    if overlay:
        write_overlay(video, track, result, out / "overlay.mp4")
    return result.summary


def _box_polygon(box) -> np.ndarray:
    cx, cy, side, angle = box
    c, s = np.cos(angle), np.sin(angle)
    half = side / 2
    pts = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    rot = np.array([[c, -s], [s, c]])
    return (pts @ rot.T + [cx, cy]).astype(np.int32)


def write_overlay(video: str, track: VideoTrack, result: VideoResult, path: Path) -> None:
    """A second decode (optional output): boxes, crops, closure and BLINK drawn on each frame."""
    n = len(track.source)
    in_event = {eye: np.zeros(n, bool) for eye in EYES}
    for ev in result.events.itertuples():
        for eye in EYES:
            s, e = getattr(ev, f"{eye}_start"), getattr(ev, f"{eye}_end")
            if not pd.isna(s):
                in_event[eye][int(s): int(e) + 1] = True
    with VideoWriter(path, track.fps) as writer:
        for t, rgb in enumerate(iter_video_frames(video)):
            if t >= n:
                break
            writer.write(draw_overlay(rgb, t, track, result.table, in_event))


def draw_overlay(rgb: np.ndarray, t: int, track: VideoTrack, table: pd.DataFrame, in_event) -> np.ndarray:
    img = rgb.copy()
    h, w = img.shape[:2]
    scale = max(0.35, min(w, h) / 600)
    inset = max(32, min(w, h) // 5)
    for eye in EYES:
        red = bool(in_event[eye][t])
        colour = (255, 40, 40) if red else (40, 255, 40)
        if track.boxes is not None and np.isfinite(track.boxes[eye][t]).all():
            cv2.polylines(img, [_box_polygon(track.boxes[eye][t])], True, colour, max(1, int(2 * scale)))
            # the crop the model saw, top corner on the eye's side (subject's right eye = image left)
            crop = cv2.resize(track.crops[eye][t].transpose(1, 2, 0), (inset, inset), interpolation=cv2.INTER_NEAREST)
            x0 = 0 if eye == "right" else w - inset
            if inset < h and inset < w:
                img[:inset, x0: x0 + inset] = crop
        value = table[f"{eye}_closure"].iat[t]
        label = f"{eye[0].upper()} " + ("no face" if np.isnan(value) else f"{value:.2f}") + (" BLINK" if red else "")
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
@one_line_errors(OSError, ValueError)  # VideoReadError, FrameReadError, CheckpointError, bad CSV: named
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("input", help="a video file, or a folder of eye-crop images")
    p.add_argument("--checkpoint", help="trained model (default: the shipped synthetic-only model, trainer/weights/; not used by --method ear)")
    p.add_argument("--method", choices=["model", "ear"], default="model",
                   help="video: the learned model, or the eye-aspect-ratio baseline (no checkpoint)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--stride", type=int, default=1, help="sliding-window stride in frames (video)")
    p.add_argument("--smooth", type=int, default=5, help="moving-average length of eye corners in frames (video)")
    p.add_argument("--landmarks", help="CSV of per-frame eye corners, manifest column names, instead of FaceMesh (video)")
    p.add_argument("--overlay", action="store_true", help="also write overlay.mp4 (decodes the video a second time)")
    p.add_argument("--image-fit", choices=["square", "corners"], default="square", help="(image folder)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--events", help="event thresholds JSON from trainer.calibrate_events (synthetic validation data)")
    p.add_argument("--event-high", type=float, help="relative closure that makes an event (default: --events, the "
                   "checkpoint's, or the trainer's 0.5; EAR: the paper's)")
    p.add_argument("--event-low", type=float, help="relative closure under which an event ends")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default="auto", help="auto: cuda if available, else cpu")
    p.add_argument("--progress", action="store_true")
    a = p.parse_args(argv)
    if a.stride < 1 or a.smooth < 1:
        p.error(f"--stride and --smooth must be >= 1, got {a.stride}, {a.smooth}")
    if a.device == "auto":
        a.device = "cuda" if torch.cuda.is_available() else "cpu"
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.method == "model" and a.checkpoint is None:  # the shipped synthetic-only model (trainer/shipped.py)
        from trainer.shipped import default_checkpoint_path
        a.checkpoint = str(default_checkpoint_path())
    if a.events:
        from trainer.calibrate_events import load_events_json
        high, low = load_events_json(a.events)
        a.event_high = high if a.event_high is None else a.event_high
        a.event_low = low if a.event_low is None else a.event_low
    if os.path.isdir(a.input):
        if a.method != "model":
            raise ValueError(f"{a.input}: an image folder is scored by the model only (--method model)")
        df = predict_images(a.checkpoint, a.input, a.out, a.image_fit, a.batch_size, a.device, a.progress)
        print(f"{len(df)} images scored: mean closure {df['closure'].mean():.3f}; {Path(a.out) / 'scores.csv'}")
    else:
        s = predict_video(a.checkpoint, a.input, a.out, a.method, a.stride, a.smooth, a.landmarks, a.overlay,
                          a.batch_size, a.device, a.progress, a.event_high, a.event_low)
        if s["faces_seen"] > 1:
            print(f"{a.input}: {s['faces_seen']} faces seen; followed one, first found in frame "
                  f"{s['followed_face_first_frame']} with its eyes around (x, y) = {tuple(s['followed_face_eyes_xy'])}")
        print(f"{s['frames']} frames ({s['detected_frames']} with a face), {s['blinks']} blinks "
              f"({s['one_eye_events']} one-eye events); outputs in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
