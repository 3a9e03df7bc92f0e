"""EyeWindowDataset: T-frame windows of one eye's crops, with that eye's labels, from a manifest.

Each (clip, window start, eye) is one sample, as in BlinkFormer (left and right eye sequences
are separate samples). An item is::

    {"frames": uint8 [T,3,S,S] RGB, "closure": float32 [T] (NaN where the manifest has none),
     "blink": float32 [] 0/1, "eye": int64 [] (0 left, 1 right, the subject's own),
     "clip_id": str, "start": int}

Window label: 1 when the PEAK (the middle of the maximal-closure frames) of one of THIS eye's
blink events lies inside the window, so a window that cuts an event away from its peak is a
negative, as in HUST-LEBW. Where the manifest has no `<eye>_blink_id` for a clip, the clip's
`blink` is used (max over the window's rows). An event cut by the clip's edge (clips.csv
`cut_event`) has its peak taken among the frames the clip holds.

Windows: clips longer than `window` are cut every `stride` frames (default stride = window:
non-overlapping windows, so an epoch sees every frame once and no near-duplicates; pass a
smaller stride for more, correlated, samples). A tail shorter than a stride gets one extra
window ending at the last frame. Clips shorter than `window` (single images included) are
padded by repeating their edge frames.

Crops come from the crop cache (trainer/cache.py; built on first use, keyed by the manifest
content and the crop parameters) or, with cache=False, are cut from the frame images on
every access (identical pixels).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from manifests import eye_crop, schema
from manifests.io import ManifestError, csv_line, read_clips, read_frames, resolve_column
from trainer import cache as crop_cache
from trainer.crops import (CropConfig, FrameReadError, crop_boxes, crop_image_eyes, read_image, rendered_rect,
                           smooth_boxes)
from trainer.augment import WindowAugment

EYE_INDEX = {eye: i for i, eye in enumerate(schema.EYES)}  # left 0, right 1


def read_frames_csv(root: str) -> pd.DataFrame:
    """frames.csv with the schema's dtypes (manifests.io; its errors name file, line and column)."""
    if not os.path.isdir(root):
        raise ManifestError(root, "dataset directory not found")
    return read_frames(root)


def _need(df: pd.DataFrame, cols: Sequence[str], path: str, why: str):
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ManifestError(path, f"missing column(s) {missing} needed for {why}")
    for c in cols:
        bad = df[c].isna()
        if c in schema.NON_NULL_FRAME_COLUMNS and bad.any():
            raise ManifestError(path, "empty value", line=csv_line(np.flatnonzero(bad.to_numpy())[0]), column=c)


def _fill_within_clips(values: np.ndarray, clip_codes: np.ndarray) -> np.ndarray:
    """Fill NaN rows (of rows sorted by clip, frame) from the nearest valid row of the same clip."""
    df = pd.DataFrame(values)
    g = df.groupby(clip_codes, sort=False)
    return np.array(g.ffill().fillna(g.bfill()).to_numpy(), dtype=np.float64)  # a writable copy


def _peak_flags(clip_codes: np.ndarray, blink_id: np.ndarray, closure: np.ndarray) -> np.ndarray:
    """Rows (sorted by clip, frame) that are the peak of their (clip, event): middle of the max-closure frames."""
    flags = np.zeros(len(blink_id), bool)
    in_event = np.isfinite(blink_id) & (blink_id >= 0)
    if not in_event.any():
        return flags
    idx = np.flatnonzero(in_event)
    ev = pd.DataFrame({"clip": clip_codes[idx], "bid": blink_id[idx],
                       "c": np.nan_to_num(closure[idx], nan=0.0), "row": idx})
    grp = ev.groupby(["clip", "bid"], sort=False)
    is_max = ev["c"].to_numpy() >= grp["c"].transform("max").to_numpy() - 1e-6
    top = ev[is_max]
    g2 = top.groupby(["clip", "bid"], sort=False)
    pick = g2.cumcount().to_numpy() == (g2["row"].transform("size").to_numpy() - 1) // 2
    flags[top["row"].to_numpy()[pick]] = True
    return flags


class EyeWindowDataset(Dataset):
    def __init__(
        self,
        root: str | os.PathLike,
        window: int = 13,                 # HUST-LEBW / SynBlink-50K sample length
        stride: int | None = None,        # None: = window (non-overlapping; see module doc)
        crop_size: int = 48,              # the paper's crops
        eyes: Sequence[str] = schema.EYES,
        split: str | Sequence[str] | None = None,
        augment: Callable | bool | None = None,  # True: WindowAugment() defaults
        cache_dir: str | os.PathLike | None = None,  # None: <root>/.cache
        *,
        cache: bool = True,               # False: crop from the images on every access
        crop: CropConfig | None = None,   # crop geometry; its size is replaced by crop_size
        seed: int = 0,                    # augmentation stream: item i of epoch e is reproducible
        cache_workers: int = 0,           # processes for building the cache (0: this one)
        progress: bool = False,
    ):
        self.root = os.fspath(root)
        self._set_options(window, stride, eyes, crop, crop_size, augment, seed)
        self.frames_csv = os.path.join(self.root, schema.FRAMES_CSV)

        df = self._read_manifest()
        # Row order of frames.csv is the cache's row order; samples index rows sorted by (clip, frame).
        order = np.lexsort((df["frame"].to_numpy(np.int64), df["clip_id"].astype(str).to_numpy()))
        sdf = df.iloc[order].reset_index(drop=True)
        clip_codes, clip_names = pd.factorize(sdf["clip_id"].astype(str), sort=False)

        boxes, valid = self._crop_boxes(sdf, order, clip_codes)
        self._boxes, self._valid = boxes.astype(np.float32), valid
        self._image_paths, self._image_hw = self._images(df)
        keep_clip = self._clips_in_split(split, sdf, clip_codes, clip_names)
        win_rows, win_clip, win_start = self._windows(sdf, clip_codes, keep_clip)
        self._make_samples(sdf, order, clip_codes, clip_names, valid, win_rows, win_clip, win_start)
        if len(self.samples) == 0:
            raise ManifestError(self.frames_csv, f"no samples (split={split!r}, eyes={self.eyes}, "
                                f"{len(df)} rows): nothing to train on")
        self._open_cache(cache, cache_dir, valid, cache_workers, progress)

    # -- construction steps, in order --------------------------------------------------------
    def _set_options(self, window, stride, eyes, crop, crop_size, augment, seed) -> None:
        """Check and store the window, stride, eyes, crop geometry and augmentation."""
        if int(window) != window or window < 1:
            raise ValueError(f"window: must be an integer >= 1, got {window!r}")
        self.window = int(window)
        self.stride = self.window if stride is None else int(stride)
        if self.stride < 1:
            raise ValueError(f"stride: must be >= 1, got {stride!r}")
        eyes = (eyes,) if isinstance(eyes, str) else tuple(eyes)
        for e in eyes:
            if e not in EYE_INDEX:
                raise ValueError(f"eyes: unknown eye {e!r}; use {schema.EYES}")
        self.eyes = eyes
        base = crop or CropConfig()
        self.crop = CropConfig(**{**base.to_dict(), "size": int(crop_size)})
        eye_crop.check_dataset_holds_crop(self.root, self.crop.scale)  # eye-region frames: black past the border
        self.augment = WindowAugment() if augment is True else (augment or None)
        # Framing augmentation (trainer.augment) cuts each window out of a larger, box-aligned
        # "context" crop (same centre and angle, side context_scale x corner distance, same pixels
        # per corner distance): the cache then holds the context, and items carry the boxes and
        # rendered rects the augmentation must stay inside.
        context_scale = getattr(self.augment, "context_scale", None)
        self.context = None
        if context_scale is not None and context_scale > self.crop.scale:
            self.context = CropConfig(**{**self.crop.to_dict(), "scale": float(context_scale),
                                         "size": int(round(self.crop.size * context_scale / self.crop.scale))})
        self.seed, self.epoch = int(seed), 0

    def _read_manifest(self) -> pd.DataFrame:
        """frames.csv, checked for what cropping needs (columns, filled keys, no duplicates)."""
        df = read_frames_csv(self.root)
        lm_cols = [c for e in schema.EYES for c in (f"{e}_outer_x", f"{e}_outer_y", f"{e}_inner_x", f"{e}_inner_y")]
        _need(df, ["clip_id", "frame", "image"] + lm_cols, self.frames_csv, "eye crops")
        if self.crop.center == "landmarks":
            _need(df, [f"{e}_{p}_{a}" for e in schema.EYES for p in ("upper", "lower") for a in "xy"],
                  self.frames_csv, "crop center 'landmarks'")
        dup = df.duplicated(["clip_id", "frame"])
        if dup.any():
            r = int(np.flatnonzero(dup.to_numpy())[0])
            raise ManifestError(self.frames_csv, f"duplicate (clip_id, frame) = ({df['clip_id'].iloc[r]}, "
                                f"{df['frame'].iloc[r]})", line=csv_line(r))
        return df

    def _crop_boxes(self, sdf, order, clip_codes) -> tuple[np.ndarray, np.ndarray]:
        """Crop boxes [rows, eyes, 4] in frames.csv row order (float64) and which are valid; the
        cache and uncached reads use the same boxes."""
        n = len(sdf)
        boxes = np.full((n, len(schema.EYES), 4), np.nan)  # float64 while building; kept as float32
        valid = np.zeros((n, len(schema.EYES)), bool)
        for e, eye in enumerate(schema.EYES):
            pts = {p: sdf[[f"{eye}_{p}_x", f"{eye}_{p}_y"]].to_numpy(np.float64, na_value=np.nan)
                   for p in (("outer", "inner", "upper", "lower") if self.crop.center == "landmarks" else ("outer", "inner"))}
            b = crop_boxes(pts["outer"], pts["inner"], self.crop, pts.get("upper"), pts.get("lower"))
            ok = np.isfinite(b).all(axis=1) & (b[:, 2] > 0)
            b[~ok] = np.nan
            b = _fill_within_clips(b, clip_codes)  # occluded frames borrow the nearest box of the clip
            if self.crop.stabilize > 1:
                for rows in pd.Series(np.arange(n)).groupby(clip_codes, sort=False).indices.values():
                    if np.isfinite(b[rows]).all():
                        b[rows] = smooth_boxes(b[rows], self.crop.stabilize)
            boxes[order, e] = b
            valid[order, e] = np.isfinite(b).all(axis=1)
        return boxes, valid

    def _images(self, df) -> tuple[np.ndarray, np.ndarray | None]:
        """Image paths (checked to stay inside the dataset) and expected (height, width) per row."""
        # numpy arrays, not lists of Python objects: DataLoader workers fork, and touching Python
        # objects would copy them into every worker (a million clips = millions of strings)
        paths = resolve_column(self.root, df, "image", self.frames_csv)
        if None in paths:
            raise ManifestError(self.frames_csv, "empty value; eye crops need an image",
                                line=csv_line(paths.index(None)), column="image")
        image_paths = np.array([os.fsencode(p) for p in paths])
        image_hw = None
        if "width" in df.columns and "height" in df.columns and not df[["width", "height"]].isna().any().any():
            image_hw = df[["height", "width"]].to_numpy(np.int32)
        return image_paths, image_hw

    def _clips_in_split(self, split, sdf, clip_codes, clip_names) -> np.ndarray:
        """Which clips (by code) belong to `split` (frames.csv's split column, else clips.csv's)."""
        if split is None:
            return np.ones(len(clip_names), bool)
        wanted = {split} if isinstance(split, str) else set(split)
        if "split" in sdf.columns:
            clip_split = sdf.groupby(clip_codes, sort=False)["split"].first().to_numpy()
        else:
            clips_csv = os.path.join(self.root, schema.CLIPS_CSV)
            cdf = read_clips(clips_csv) if os.path.isfile(clips_csv) else None
            if cdf is None or "split" not in cdf.columns:
                raise ManifestError(self.frames_csv, f"split={split!r} asked for but neither frames.csv nor "
                                    "clips.csv has a 'split' column (run `python -m manifests split` first)")
            clip_split = cdf.set_index("clip_id")["split"].reindex(clip_names).to_numpy()
        return np.isin(clip_split.astype(str), list(wanted))

    def _windows(self, sdf, clip_codes, keep_clip) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Windows of the kept clips: row positions in sdf [W, T], clip code [W], start frame [W]."""
        starts_all, rows_all, clip_all = [], [], []
        t = np.arange(self.window)
        clip_rows = pd.Series(np.arange(len(sdf))).groupby(clip_codes, sort=False).indices
        frame_no = sdf["frame"].to_numpy(np.int64)
        for code, rows in clip_rows.items():
            if not keep_clip[code]:
                continue
            m = len(rows)
            starts = list(range(0, max(m - self.window, 0) + 1, self.stride))
            if m > self.window and starts[-1] != m - self.window:
                starts.append(m - self.window)  # cover the tail
            for s in starts:
                rows_all.append(rows[np.clip(s + t, 0, m - 1)])
                starts_all.append(int(frame_no[rows[s]]))
                clip_all.append(code)
        win_rows = np.array(rows_all, np.int64).reshape(-1, self.window)
        return win_rows, np.array(clip_all, np.int64), np.asarray(starts_all, np.int64)

    def _window_labels(self, sdf, eye, clip_codes, win_rows, win_clip) -> tuple[np.ndarray, np.ndarray]:
        """(closure per row, blink label per window) of one eye (module doc: the peak rule)."""
        n = len(sdf)
        closure = sdf[f"{eye}_closure"].to_numpy(np.float64, na_value=np.nan) if f"{eye}_closure" in sdf else np.full(n, np.nan)
        bid_col = f"{eye}_blink_id"
        bid = sdf[bid_col].to_numpy(np.float64, na_value=np.nan) if bid_col in sdf else np.full(n, np.nan)
        peaks = _peak_flags(clip_codes, bid, closure)
        clip_has_ids = pd.Series(np.isfinite(bid)).groupby(clip_codes, sort=False).any().to_numpy()
        clip_blink = sdf["blink"].to_numpy(np.float64, na_value=np.nan) if "blink" in sdf else np.full(n, np.nan)
        label = np.where(clip_has_ids[win_clip], peaks[win_rows].any(axis=1).astype(float),
                         np.nanmax(np.where(np.isnan(clip_blink[win_rows]), -np.inf, clip_blink[win_rows]), axis=1)
                         if len(win_rows) else np.zeros(0))
        return closure, np.where(np.isinf(label), np.nan, label)

    def _make_samples(self, sdf, order, clip_codes, clip_names, valid, win_rows, win_clip, win_start) -> None:
        """One sample per (window, eye) whose eye has a crop box; the per-sample arrays."""
        samples, closures, cache_rows = [], [], []
        for eye in self.eyes:
            e = EYE_INDEX[eye]
            closure, label = self._window_labels(sdf, eye, clip_codes, win_rows, win_clip)
            ok = valid[order[win_rows[:, 0]], e] if len(win_rows) else np.zeros(0, bool)
            samples.append(pd.DataFrame({"clip": win_clip[ok], "start": win_start[ok], "eye": e,
                                         "blink": label[ok].astype(np.float64)}))
            closures.append(closure[win_rows[ok]])
            cache_rows.append(order[win_rows[ok]])
        self.samples = pd.concat(samples, ignore_index=True)
        self.samples["clip_id"] = pd.Categorical.from_codes(self.samples["clip"].to_numpy(np.int64),
                                                            categories=pd.Index(np.asarray(clip_names, dtype=str)))
        self._closure = (np.concatenate(closures) if closures else np.zeros((0, self.window))).astype(np.float32)
        n = len(sdf)
        rows_dtype = np.int32 if n < 2**31 else np.int64  # [samples, T]: the largest per-sample array
        self._rows = (np.concatenate(cache_rows) if cache_rows else np.zeros((0, self.window))).astype(rows_dtype)
        # plain arrays for __getitem__ (pandas row access costs more than a cached crop read)
        self._eye = self.samples["eye"].to_numpy(np.int64)
        self._blink = self.samples["blink"].to_numpy(np.float32)
        self._start = self.samples["start"].to_numpy(np.int64)
        self._clip_code = self.samples["clip"].to_numpy(np.int64)
        self._clip_names = np.asarray(clip_names, dtype=str)

    def _open_cache(self, cache, cache_dir, valid, cache_workers, progress) -> None:
        """Find (or build, once) the crop cache of this manifest and crop geometry."""
        self.cache_path = None
        self._cache_arr, self._cache_pid = None, None
        if not cache:
            return
        cdir = os.fspath(cache_dir) if cache_dir is not None else os.path.join(self.root, ".cache")
        key = crop_cache.cache_key(crop_cache.file_digest(self.frames_csv), self.cache_crop, schema.EYES)
        self.cache_path = os.path.join(cdir, f"crops-{key}")
        if not crop_cache.is_complete(self.cache_path):
            try:
                crop_cache.build_cache(self.cache_path, self._image_paths, self._image_hw, self._cache_boxes(),
                                       valid, self.cache_crop,
                                       meta={"frames_csv": os.path.abspath(self.frames_csv)},
                                       workers=cache_workers, progress=progress)
            except PermissionError as e:
                raise PermissionError(f"{cdir}: cannot write the crop cache ({e}); pass cache_dir=") from e

    # -- helpers the trainer uses -------------------------------------------------------------
    @property
    def cache_crop(self) -> CropConfig:
        """What the cache (or an uncached read) cuts: the context crop when framing needs one."""
        return self.context or self.crop

    def _cache_boxes(self) -> np.ndarray:
        boxes = self._boxes.copy()
        boxes[..., 2] *= self.cache_crop.scale / self.crop.scale
        return boxes

    def rects(self, i: int) -> np.ndarray:
        """Rendered rects [T, 4] of the frames of sample i (crops.rendered_rect)."""
        rows = self._rows[i]
        if self.cache_path is not None:
            if getattr(self, "_rects", None) is None:
                self._rects = crop_cache.open_rects(self.cache_path)
            return self._rects[rows]
        return np.stack([rendered_rect(read_image(os.fsdecode(self._image_paths[r]))) for r in rows])

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int):
        """Change the augmentation stream (call once per epoch, like DistributedSampler)."""
        self.epoch = int(epoch)

    def class_balance(self) -> dict:
        """Counts of blink / no-blink windows and the positive weight for BCEWithLogitsLoss."""
        y = self.samples["blink"].to_numpy()
        pos, neg = int(np.sum(y == 1)), int(np.sum(y == 0))
        return {"n": len(y), "blink": pos, "no_blink": neg, "unknown": int(np.isnan(y).sum()),
                "pos_weight": (neg / pos) if pos and neg else 1.0}  # 1.0: one class missing, nothing to balance

    def sample_weights(self) -> torch.Tensor:
        """Per-sample weights giving both classes equal total weight (for WeightedRandomSampler)."""
        y = self.samples["blink"].to_numpy()
        w = np.ones(len(y))
        for v in (0.0, 1.0):
            m = y == v
            if m.any():
                w[m] = 0.5 / m.sum()
        return torch.as_tensor(w * len(y), dtype=torch.double)

    def crops(self, i: int) -> np.ndarray:
        """The raw (unaugmented) uint8 crops [T,3,S,S] of sample i."""
        rows, e = self._rows[i], int(self._eye[i])
        if self.cache_path is not None:
            if self._cache_arr is None or self._cache_pid != os.getpid():  # one map per worker process
                self._cache_arr, self._cache_pid = crop_cache.open_cache(self.cache_path), os.getpid()
            return np.asarray(self._cache_arr[rows, e])
        uniq, inv = np.unique(rows, return_inverse=True)
        ratio = np.array([1, 1, self.cache_crop.scale / self.crop.scale, 1], np.float32)
        cut = np.stack([crop_image_eyes(os.fsdecode(self._image_paths[r]), self._boxes[r, e:e + 1] * ratio,
                                        self.cache_crop.size,
                                        expect_hw=None if self._image_hw is None else tuple(self._image_hw[r]))[0]
                        for r in uniq])
        return cut[inv]

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < len(self):
            raise IndexError(i)
        item = {
            "frames": torch.from_numpy(self.crops(i)),
            "closure": torch.from_numpy(self._closure[i].copy()),
            "blink": torch.tensor(self._blink[i], dtype=torch.float32),
            "eye": torch.tensor(self._eye[i], dtype=torch.int64),
            "clip_id": str(self._clip_names[self._clip_code[i]]),
            "start": int(self._start[i]),
        }
        if self.context is not None:  # the augmentation cuts the window out of the context crop
            from trainer.augment import FramingInput
            item["framing"] = FramingInput(boxes=self._boxes[self._rows[i], int(self._eye[i])].astype(np.float64),
                                           rects=self.rects(i).astype(np.float64), corner_scale=self.crop.scale,
                                           context_scale=self.context.scale, size=self.crop.size)
        if self.augment is not None:
            g = torch.Generator().manual_seed(hash((self.seed, self.epoch, i)) & (2**63 - 1))
            item = self.augment(item, g)
        return item

    def __getstate__(self):  # memory maps are reopened in each worker, never pickled
        state = dict(self.__dict__)
        state["_cache_arr"], state["_cache_pid"], state["_rects"] = None, None, None
        return state
