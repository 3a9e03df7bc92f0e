"""Adapter: Eyeblink8 / Talking Face / Researcher's night (`.tag` annotations) -> a SynBlink
dataset, plus blink labels in the real-video convention for `trainer.evaluate_video`.

LAYOUT (blinkingmatters.com datasets): each video beside a `.tag` file of the same stem,
anywhere under SRC (e.g. `SRC/1/26122013_223310_cam.avi` + `SRC/1/26122013_223310_cam.tag`).
A `.tag` file has header lines, a line `#start`, one line per annotated frame, and `#end`::

    frameID : blinkID : NF : LE_FC : LE_NV : RE_FC : RE_NV : F_X : F_Y : F_W : F_H :
        LE_LX : LE_LY : LE_RX : LE_RY : RE_LX : RE_LY : RE_RX : RE_RY

frameID is the 0-based frame index; blinkID is -1 outside blinks and the same number on every
frame of one blink; NF is `N` on non-frontal faces (else `X`); FC is `C` when that eye is fully
closed (else `X`); NV is `N` when that eye is not visible (else `X`); F_* is the face box and
*_LX..*_RY the eye's two corners (image-left and image-right one), in pixels.

Which eye the tag calls "left" is decided by position, not by name: the eye whose corners lie
further to the image's left is the subject's RIGHT eye (frontal faces), its outer corner the
image-left one. Per frame and eye: closure 1 on fully closed frames, 0 on frames outside any
blink, unknown (empty) on the partly closed frames of a blink; blink_id numbers the blinks
0, 1, ... (-1 outside); phase is closing / closed / opening around the closed frames (a blink
without a closed frame: closing to its middle, then opening). Every frame is decoded once to
`frames/<clip>/NNNN.jpg`; clip = the video, subject = its folder.

Also written: `labels/blinks.csv` (video,blink_id,start,peak,end,kind,eyes,notes; video is the
path relative to SRC, kind full when a frame is fully closed, else partial) and
`labels/exclusions.csv` (runs of non-frontal or eye-not-visible frames), so that
`python -m trainer.evaluate_video --videos SRC --labels OUT/labels/blinks.csv
--exclusions OUT/labels/exclusions.csv --labelled-only` scores a detector on these videos.
"""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from manifests import schema
from manifests.adapters.common import AdapterError, clips_table, dataset_output, frames_table, write_dataset
from manifests.io import write_csv

VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".wmv")
TAG_FIELDS = ["frame", "blink", "nf", "le_fc", "le_nv", "re_fc", "re_nv", "f_x", "f_y", "f_w", "f_h",
              "le_lx", "le_ly", "le_rx", "le_ry", "re_lx", "re_ly", "re_rx", "re_ry"]
JPEG_QUALITY = 95


def read_tag(path: Path) -> pd.DataFrame:
    """The frame lines of a .tag file as a table (columns TAG_FIELDS); AdapterError naming the line."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise AdapterError(path, f"cannot read ({e})") from None
    try:
        first = next(i for i, line in enumerate(lines) if line.strip() == "#start") + 1
    except StopIteration:
        raise AdapterError(path, "no '#start' line: not a blink .tag file") from None
    rows = []
    for k in range(first, len(lines)):
        text = lines[k].strip()
        if text == "#end":
            break
        if not text:
            continue
        parts = [p.strip() for p in text.split(":")]
        if len(parts) < len(TAG_FIELDS):
            raise AdapterError(path, f"line {k + 1}: {len(parts)} ':'-separated fields, expected {len(TAG_FIELDS)}")
        try:
            nums = [int(parts[0]), int(parts[1])] + [float(p) for p in parts[7:19]]
        except ValueError:
            raise AdapterError(path, f"line {k + 1}: frame, blink ID, face box and corners must be numbers") from None
        flags = [p.upper() for p in parts[2:7]]
        rows.append([nums[0], nums[1], *flags, *nums[2:]])
    if not rows:
        raise AdapterError(path, "no frame lines between '#start' and '#end'")
    df = pd.DataFrame(rows, columns=TAG_FIELDS)
    if df["frame"].duplicated().any() or (df["frame"] < 0).any():
        raise AdapterError(path, "frame IDs must be distinct and >= 0")
    return df.sort_values("frame").reset_index(drop=True)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (start, end) index runs of True."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def _phases(closed: np.ndarray) -> list[str]:
    """Phases of one blink's frames from its fully-closed flags."""
    n = len(closed)
    if closed.any():
        first, last = np.flatnonzero(closed)[[0, -1]]
    else:
        first = last = (n - 1) // 2
    return ["closing" if i < first else "opening" if i > last else ("closed" if closed[i] else "closing")
            for i in range(n)]


def _clip_id(rel: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", rel.with_suffix("").as_posix()).strip("-")


def convert(src, out) -> Path:
    src = Path(src)
    if not src.is_dir():
        raise AdapterError(src, "source folder not found")
    pairs = []
    for tag in sorted(src.rglob("*.tag")):
        video = next((tag.with_suffix(s) for s in VIDEO_SUFFIXES if tag.with_suffix(s).is_file()), None)
        if video is None:
            raise AdapterError(tag, f"no video beside it ({', '.join(VIDEO_SUFFIXES)} with the same name)")
        pairs.append((tag, video))
    if not pairs:
        raise AdapterError(src, "no .tag annotation files found")
    frames, clips, blinks, exclusions = [], [], [], []
    with dataset_output(out) as tmp:
        for tag_path, video in pairs:
            tag = read_tag(tag_path).set_index("frame")
            rel = video.relative_to(src)
            clip_id, subject = _clip_id(rel), _clip_id(rel.parent) or _clip_id(rel)
            cap = cv2.VideoCapture(str(video))
            if not cap.isOpened():
                raise AdapterError(video, "cannot open video")
            fps = cap.get(cv2.CAP_PROP_FPS) or float("nan")
            images = []
            try:
                while True:
                    ok, img = cap.read()
                    if not ok:
                        break
                    t = len(images)
                    rel_img = f"{schema.FRAMES_DIR}/{clip_id}/{t:04d}.jpg"
                    (tmp / rel_img).parent.mkdir(parents=True, exist_ok=True)
                    if not cv2.imwrite(str(tmp / rel_img), img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                        raise AdapterError(tmp / rel_img, "could not write frame")
                    images.append((rel_img, img.shape[1], img.shape[0]))
            finally:
                cap.release()
            if not images:
                raise AdapterError(video, "no decodable frames")
            n = len(images)
            if tag.index.max() >= n:
                raise AdapterError(tag_path, f"frame {int(tag.index.max())} annotated but {video.name} has {n} frames")
            tag = tag.reindex(range(n))
            # which tag eye is the subject's right one: the one further to the image's left
            le_x = np.nanmean(tag[["le_lx", "le_rx"]].to_numpy(float))
            re_x = np.nanmean(tag[["re_lx", "re_rx"]].to_numpy(float))
            tag_eye = {"right": "le", "left": "re"} if le_x < re_x else {"right": "re", "left": "le"}
            in_blink = tag["blink"].fillna(-1).to_numpy() >= 0
            blink_ids = tag["blink"].fillna(-1).to_numpy().astype(int)
            runs = []  # one blink = a run of frames with the same blink ID
            for s, e in _runs(in_blink):
                cuts = np.flatnonzero(np.diff(blink_ids[s: e + 1]) != 0) + 1
                bounds = [s, *(s + cuts), e + 1]
                runs += [(bounds[i], bounds[i + 1] - 1) for i in range(len(bounds) - 1)]
            per_eye = {}
            for eye, te in tag_eye.items():
                closed = (tag[f"{te}_fc"] == "C").to_numpy()
                closure = np.where(in_blink, np.nan, 0.0)
                closure[closed] = 1.0
                bid, phase = np.full(n, -1), np.array(["open"] * n, dtype=object)
                for k, (s, e) in enumerate(runs):
                    bid[s: e + 1] = k
                    phase[s: e + 1] = _phases(closed[s: e + 1])
                xs, ys = tag[[f"{te}_lx", f"{te}_rx"]].to_numpy(float), tag[[f"{te}_ly", f"{te}_ry"]].to_numpy(float)
                outer_k = 0 if eye == "right" else 1  # the subject's right eye's outer corner is image-left
                per_eye[eye] = dict(closure=closure, blink_id=bid, phase=phase,
                                    outer=(xs[:, outer_k], ys[:, outer_k]), inner=(xs[:, 1 - outer_k], ys[:, 1 - outer_k]),
                                    visible=np.where(tag[f"{te}_nv"].isna(), np.nan, (tag[f"{te}_nv"] != "N").astype(float)))
            for t, (rel_img, w, h) in enumerate(images):
                row = {"clip_id": clip_id, "frame": t, "image": rel_img, "width": w, "height": h, "fps": fps,
                       "subject_id": subject, "blink": int(bool(runs)), "video_frame": t}
                for eye, d in per_eye.items():
                    row.update({f"{eye}_closure": d["closure"][t], f"{eye}_blink_id": d["blink_id"][t],
                                f"{eye}_phase": d["phase"][t], f"{eye}_outer_x": d["outer"][0][t],
                                f"{eye}_outer_y": d["outer"][1][t], f"{eye}_inner_x": d["inner"][0][t],
                                f"{eye}_inner_y": d["inner"][1][t],
                                f"{eye}_visible": None if np.isnan(d["visible"][t]) else int(d["visible"][t])})
                frames.append(row)
            clips.append({"clip_id": clip_id, "subject_id": subject, "n_frames": n, "fps": fps, "width": images[0][1],
                          "height": images[0][2], "blink": int(bool(runs)), "cut_event": 0,
                          "source": rel.as_posix(), "tag": tag_path.relative_to(src).as_posix()})
            closed_any = ((tag["le_fc"] == "C") | (tag["re_fc"] == "C")).to_numpy()
            for k, (s, e) in enumerate(runs):
                seg = closed_any[s: e + 1]
                peak = s + (int(np.flatnonzero(seg)[len(np.flatnonzero(seg)) // 2]) if seg.any() else (e - s) // 2)
                blinks.append(dict(video=rel.as_posix(), blink_id=k, start=s, peak=peak, end=e,
                                   kind="full" if seg.any() else "partial", eyes="both", notes=f"tag blink ID {blink_ids[s]}"))
            odd = ((tag["nf"] == "N") | (tag["le_nv"] == "N") | (tag["re_nv"] == "N")).to_numpy()
            for s, e in _runs(odd):
                exclusions.append(dict(video=rel.as_posix(), start=s, end=e, reason="non-frontal face or eye not visible"))
        (tmp / "labels").mkdir()
        write_csv(pd.DataFrame(blinks, columns=["video", "blink_id", "start", "peak", "end", "kind", "eyes", "notes"]),
                  tmp / "labels" / "blinks.csv")
        write_csv(pd.DataFrame(exclusions, columns=["video", "start", "end", "reason"]), tmp / "labels" / "exclusions.csv")
        write_dataset(tmp, frames_table(frames), clips_table(clips), {
            "adapter": "eyeblink8", "source": str(src.resolve()), "videos": [v.relative_to(src).as_posix() for _, v in pairs],
            "eyes": "tag LE/RE assigned by position: the eye further to the image's left is the subject's right",
            "labels": "labels/blinks.csv and labels/exclusions.csv (trainer.evaluate_video convention)"})
    return Path(out)
