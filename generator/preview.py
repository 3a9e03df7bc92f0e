"""Look at a dataset: a contact sheet with the labels drawn on the frames, and closure curves.

    python -m generator.preview DATASET [--out PNG] [--curves PNG] [--max-clips N] [--frames-per-clip K]

- DATASET/preview.png: one row per clip, a few frames each (always the frame of maximal closure),
  landmarks drawn (eye corners, mid upper/lower lid, pupil: left eye cyan, right eye orange) and
  per eye the closure value and phase written under the frame.
- DATASET/closure_curves.png: per clip, left and right closure over the frames, the frames of
  each blink phase shaded (closing / closed / opening), the clip's blink label in the title.

A label that does not match its picture shows up here. Runs outside Blender (pandas, OpenCV,
matplotlib); works on any manifest: columns it does not find are simply not drawn. Unreadable
frames become a red tile naming the file (and a warning), so one bad file never hides the rest.
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np

from manifests.atomic import atomic_path
from manifests.schema import EYES

EYE_BGR = {"left": (255, 220, 0), "right": (0, 140, 255)}  # cyan / orange (OpenCV is BGR)
PHASE_RGB = {"closing": (1.0, 0.65, 0.0), "closed": (0.55, 0.0, 0.55), "opening": (0.1, 0.6, 0.1)}
TILE = 160  # frames are drawn at this height so that 96 px frames stay legible
TEXT_H = 30


def _atomic_write_png(path: Path, image_bgr: np.ndarray) -> None:
    import cv2

    with atomic_path(path, suffix=".png") as tmp:
        if not cv2.imwrite(tmp, image_bgr):
            raise OSError(f"cannot write {path}")


def _num(row, col):
    v = row.get(col) if hasattr(row, "get") else None
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(v) else v


class FrameReader:
    """Frames of a dataset by manifest row: PNG (`image`) or video (`video` + `video_frame`)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._caps = {}
        self.problems = []

    def read(self, row):
        import cv2

        image = row.get("image")
        if isinstance(image, str) and image:
            path = self.root / image
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                self.problems.append(f"{path}: missing or unreadable frame")
            return img, str(path)
        video = row.get("video")
        vf = _num(row, "video_frame")
        if isinstance(video, str) and video and vf is not None:
            path = self.root / video
            cap = self._caps.get(path)
            if cap is None:
                cap = self._caps[path] = cv2.VideoCapture(str(path))
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(vf))
            ok, img = cap.read()
            if not ok:
                self.problems.append(f"{path}: cannot read frame {int(vf)}")
                return None, f"{path}#{int(vf)}"
            return img, f"{path}#{int(vf)}"
        self.problems.append(f"clip {row.get('clip_id')} frame {row.get('frame')}: no image or video in the manifest")
        return None, "(no image)"

    def close(self):
        for cap in self._caps.values():
            cap.release()


def _draw_tile(img, row, where: str):
    """The frame scaled to TILE px high with its labels, plus a text strip below."""
    import cv2

    if img is None:
        tile = np.zeros((TILE, TILE, 3), np.uint8)
        tile[:] = (40, 40, 200)
        cv2.putText(tile, "unreadable", (8, TILE // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(tile, os.path.basename(where)[:22], (8, TILE // 2 + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    (255, 255, 255), 1, cv2.LINE_AA)
        scale = 1.0
    else:
        h, w = img.shape[:2]
        scale = TILE / float(h)
        tile = cv2.resize(img, (max(1, int(round(w * scale))), TILE),
                          interpolation=cv2.INTER_NEAREST if scale >= 2 else cv2.INTER_AREA)
        for eye in EYES:
            col = EYE_BGR[eye]
            pts = {}
            for name in ("outer", "inner", "upper", "lower", "pupil"):
                x, y = _num(row, f"{eye}_{name}_x"), _num(row, f"{eye}_{name}_y")
                if x is not None and y is not None:
                    pts[name] = (int(round((x + 0.5) * scale - 0.5)), int(round((y + 0.5) * scale - 0.5)))
            if "outer" in pts and "inner" in pts:
                cv2.line(tile, pts["outer"], pts["inner"], col, 1, cv2.LINE_AA)
            if "upper" in pts and "lower" in pts:
                cv2.line(tile, pts["upper"], pts["lower"], col, 1, cv2.LINE_AA)
            for name in ("outer", "inner"):
                if name in pts:
                    cv2.drawMarker(tile, pts[name], col, cv2.MARKER_TILTED_CROSS, 6, 1, cv2.LINE_AA)
            for name in ("upper", "lower"):
                if name in pts:
                    cv2.circle(tile, pts[name], 2, col, -1, cv2.LINE_AA)
            if "pupil" in pts:
                cv2.circle(tile, pts["pupil"], 3, (0, 0, 255), 1, cv2.LINE_AA)
    strip = np.full((TEXT_H, tile.shape[1], 3), 255, np.uint8)
    frame = row.get("frame")
    for k, eye in enumerate(EYES):
        c = _num(row, f"{eye}_closure")
        phase = row.get(f"{eye}_phase")
        phase = phase if isinstance(phase, str) else "-"
        text = f"{eye[0].upper()} {'-' if c is None else f'{c:.2f}'} {phase}"
        dark = tuple(int(v * 0.6) for v in EYE_BGR[eye])  # readable on white
        cv2.putText(strip, text, (3, 12 + 14 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.38, dark, 1, cv2.LINE_AA)
    cv2.putText(tile, f"{int(frame) if _num(row, 'frame') is not None else '?'}", (3, 14),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([tile, strip])


def _pick_frames(clip_rows, k: int):
    """k frame positions spread over the clip, always including the frame of maximal closure."""
    n = len(clip_rows)
    picks = set(np.linspace(0, n - 1, min(k, n)).round().astype(int).tolist())
    closure = np.zeros(n)
    for eye in EYES:
        col = f"{eye}_closure"
        if col in clip_rows:
            closure = np.maximum(closure, clip_rows[col].astype(float).fillna(0.0).to_numpy())
    if closure.max() > 0:
        peak = int(closure.argmax())
        if peak not in picks:
            nearest = min(picks, key=lambda p: abs(p - peak))
            picks.discard(nearest)
            picks.add(peak)
    return sorted(picks)


def _clip_groups(frames, max_clips: int):
    ids = list(dict.fromkeys(frames["clip_id"].tolist()))[:max_clips]
    for cid in ids:
        yield cid, frames[frames["clip_id"] == cid].sort_values("frame").reset_index(drop=True)


def contact_sheet(root: Path, frames, out: Path, max_clips: int = 12, frames_per_clip: int = 6) -> list:
    """Write the contact sheet; returns the problems (unreadable frames) it met."""
    import cv2

    reader = FrameReader(root)
    rows = []
    try:
        for cid, clip in _clip_groups(frames, max_clips):
            tiles = []
            for pos in _pick_frames(clip, frames_per_clip):
                row = clip.iloc[pos].to_dict()
                img, where = reader.read(row)
                tiles.append(_draw_tile(img, row, where))
            height = max(t.shape[0] for t in tiles)
            tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 2), (0, 0)), constant_values=255) for t in tiles]
            label = np.full((height, 120, 3), 255, np.uint8)
            blink = clip["blink"].iloc[0] if "blink" in clip else None
            cv2.putText(label, str(cid)[-14:], (3, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
            cv2.putText(label, f"blink={'?' if blink is None or blink != blink else int(blink)}", (3, 40),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 160) if blink == 1 else (0, 0, 0), 1, cv2.LINE_AA)
            subject = clip["subject_id"].iloc[0] if "subject_id" in clip else None
            if isinstance(subject, str):
                cv2.putText(label, subject[-14:], (3, 60), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (80, 80, 80), 1, cv2.LINE_AA)
            rows.append(np.hstack([label] + tiles))
    finally:
        reader.close()
    if not rows:
        raise ValueError(f"{root}: frames.csv has no rows to preview")
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    _atomic_write_png(out, np.vstack(rows))
    return reader.problems


def closure_plot(frames, out: Path, max_clips: int = 12) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    groups = list(_clip_groups(frames, max_clips))
    if not groups:
        raise ValueError("frames.csv has no rows to plot")
    ncols = min(4, len(groups))
    nrows = int(np.ceil(len(groups) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.3 * nrows), squeeze=False, sharey=True)
    for ax, (cid, clip) in zip(axes.ravel(), groups):
        f = clip["frame"].astype(float).to_numpy()
        for k, eye in enumerate(EYES):
            phase_col = f"{eye}_phase"
            if phase_col in clip:  # left eye shades the upper half, right eye the lower half
                for i, ph in enumerate(clip[phase_col].tolist()):
                    if ph in PHASE_RGB:
                        ax.axvspan(f[i] - 0.5, f[i] + 0.5, ymin=0.5 if k == 0 else 0.0, ymax=1.0 if k == 0 else 0.5,
                                   color=PHASE_RGB[ph], alpha=0.18, lw=0)
            col = f"{eye}_closure"
            if col in clip:
                ax.plot(f, clip[col].astype(float).to_numpy(), "-o" if eye == "left" else "--o", ms=2.5, lw=1.2,
                        color="tab:cyan" if eye == "left" else "tab:orange", label=eye)  # dashed: both eyes show when equal
        blink = clip["blink"].iloc[0] if "blink" in clip else None
        ax.set_title(f"{cid}  blink={'?' if blink is None or blink != blink else int(blink)}", fontsize=8)
        ax.set_ylim(-0.05, 1.05)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("frame", fontsize=7)
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color="tab:cyan", marker="o", ms=3, label="left closure"),
               plt.Line2D([], [], color="tab:orange", marker="o", ms=3, ls="--", label="right closure")]
    handles += [Patch(color=c, alpha=0.35, label=p) for p, c in PHASE_RGB.items()]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=7, frameon=False)
    fig.text(0.01, 0.005, "shading: upper half left eye, lower half right eye", fontsize=6, color="grey")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    try:
        with atomic_path(out, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)


def preview(dataset, out=None, curves=None, max_clips: int = 12, frames_per_clip: int = 6):
    """Write the contact sheet and the closure plot; returns (sheet path, curves path, problems)."""
    from manifests.io import read_frames

    root = Path(dataset)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: dataset directory not found")
    frames = read_frames(root)  # ManifestError names file, line and column
    missing = [c for c in ("clip_id", "frame") if c not in frames.columns]
    if missing:
        raise ValueError(f"{root / 'frames.csv'}: missing column(s) {', '.join(missing)}")
    out = Path(out) if out else root / "preview.png"
    curves = Path(curves) if curves else root / "closure_curves.png"
    problems = contact_sheet(root, frames, out, max_clips, frames_per_clip)
    closure_plot(frames, curves, max_clips)
    return out, curves, problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m generator.preview", description=__doc__.split("\n")[0])
    p.add_argument("dataset", help="dataset directory (frames.csv and frames/ or videos/)")
    p.add_argument("--out", default=None, help="contact sheet PNG (default DATASET/preview.png)")
    p.add_argument("--curves", default=None, help="closure plot PNG (default DATASET/closure_curves.png)")
    p.add_argument("--max-clips", type=int, default=12, help="clips shown (the first N in frames.csv)")
    p.add_argument("--frames-per-clip", type=int, default=6, help="frames shown per clip")
    args = p.parse_args(argv)
    if args.max_clips < 1 or args.frames_per_clip < 1:
        p.error("--max-clips and --frames-per-clip must be >= 1")
    from manifests.io import ManifestError

    try:
        sheet, curves, problems = preview(args.dataset, args.out, args.curves, args.max_clips, args.frames_per_clip)
    except (ManifestError, ValueError, FileNotFoundError) as e:
        print(f"generator.preview: error: {e}", file=sys.stderr)
        return 2
    for msg in problems:
        print(f"generator.preview: warning: {msg}", file=sys.stderr)
    print(f"preview: {sheet}\nclosure curves: {curves}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
