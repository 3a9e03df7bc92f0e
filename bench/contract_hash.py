"""Hash what the generator produces, to show a refactor changes no label and no pixel.

    python bench/contract_hash.py labels           # 200 sampled clips: clips.csv rows + every frame state
    python bench/contract_hash.py frames           # a few tiny frames rendered with bpy in-process + their label rows
    python bench/contract_hash.py labels frames --out hashes.json

Bit identity is meaningful only on one machine with one numpy/bpy (transcendental functions
differ in the last bits across CPUs and builds): compare a before and an after run side by side,
never against a number recorded elsewhere.

labels: 150 clip-mode clips (all four background kinds on) and 50 video-mode clips (90 frames);
for each, the clips.csv row (``spec.to_row()``, which also proves the row rebuilds the same
row through ``ClipSpec.from_row``) and every frame state (units, head, gaze, shake, phases,
blink ids, blink weights). frames: 4 clips x 2 frames at 32x32, Cycles 2 samples (one per
background kind), plus one eye-region clip: the decoded PNG pixels and the label rows
(closure, landmarks, ...) the scene returns with them.
"""
import argparse
import dataclasses
import hashlib
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from generator.config import GeneratorConfig  # noqa: E402
from generator.sampling import ClipSpec, sample_clip  # noqa: E402

MEDIA = os.path.join(tempfile.gettempdir(), "synblink_contract_media")  # fixed: paths are in the rows


def _media() -> None:
    """One background photo and one environment map at fixed paths (the rows record the paths)."""
    os.makedirs(os.path.join(MEDIA, "images"), exist_ok=True)
    os.makedirs(os.path.join(MEDIA, "hdri"), exist_ok=True)
    png = os.path.join(MEDIA, "images", "stripes.png")
    hdr = os.path.join(MEDIA, "hdri", "gradient.hdr")
    if not os.path.exists(png) or not os.path.exists(hdr):
        from PIL import Image
        y, x = np.mgrid[0:64, 0:64]
        rgb = np.stack([(x * 4) % 256, (y * 4) % 256, ((x + y) * 2) % 256], -1).astype(np.uint8)
        Image.fromarray(rgb).save(png)
        _write_rgbe(hdr, np.stack([x / 64.0, y / 64.0, np.full_like(x, 0.5, dtype=float)], -1) * 2.0)


def _write_rgbe(path: str, rgb: np.ndarray) -> None:
    """A flat (not run-length encoded) Radiance .hdr file."""
    h, w, _ = rgb.shape
    top = np.maximum(rgb.max(axis=2), 1e-32)
    mant, exp = np.frexp(top)
    scale = np.where(top > 1e-32, mant * 256.0 / top, 0.0)
    out = np.zeros((h, w, 4), np.uint8)
    out[..., :3] = np.clip(rgb * scale[..., None], 0, 255).astype(np.uint8)
    out[..., 3] = np.where(top > 1e-32, exp + 128, 0).astype(np.uint8)
    with open(path, "wb") as f:
        f.write(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + f"-Y {h} +X {w}\n".encode() + out.tobytes())


def _config(mode: str = "clip") -> GeneratorConfig:
    _media()
    cfg = GeneratorConfig()
    cfg.seed = 7
    cfg.background.kind_weights = {"texture": 1.0, "image": 1.0, "hdri": 1.0, "sky": 1.0}
    cfg.background.image_dir = os.path.join(MEDIA, "images")
    cfg.background.hdri_dir = os.path.join(MEDIA, "hdri")
    if mode == "video":
        cfg.clip.mode, cfg.clip.n_frames = "video", 90
    return cfg.validate()


def _dump(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def labels_hash() -> dict:
    rows, states = hashlib.sha256(), hashlib.sha256()
    for mode, indices in (("clip", range(150)), ("video", range(1000, 1050))):
        cfg = _config(mode)
        for i in indices:
            spec = sample_clip(cfg, i)
            row = spec.to_row()
            text = {k: str(v) for k, v in row.items()}  # what csv.DictReader gives back
            again = ClipSpec.from_row(text).to_row()
            if _dump(again) != _dump(row):
                raise SystemExit(f"clip {spec.clip_id}: from_row(to_row(spec)) does not give the same row")
            rows.update(_dump(row))
            for t in range(spec.n_frames):
                states.update(_dump(dataclasses.asdict(spec.frame_state(t))))
    return {"clips_rows_sha256": rows.hexdigest(), "frame_states_sha256": states.hexdigest()}


def _png_pixels(path: str) -> bytes:
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA")).tobytes()


def frames_hash() -> dict:
    from generator.scene import FaceScene

    cfg = _config()
    cfg.clip.resolution = [32, 32]
    cfg.render.samples = 2
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for eye_region in (False, True):
            cfg.render.eye_region = eye_region
            scene = FaceScene(cfg)
            pixels, labels = hashlib.sha256(), hashlib.sha256()
            wanted = {"texture", "image", "hdri", "sky"} if not eye_region else {"texture"}
            i = 0
            while wanted:
                spec = sample_clip(cfg, i)
                i += 1
                kind = json.loads(spec.to_row()["background"])["kind"]
                if kind not in wanted:
                    continue
                wanted.discard(kind)
                spec.n_frames = 2
                frame_dir = os.path.join(tmp, f"{int(eye_region)}_{spec.clip_id}")
                rows = scene.render_clip(spec, frame_dir)
                labels.update(_dump(rows))
                for t in range(spec.n_frames):
                    pixels.update(_png_pixels(os.path.join(frame_dir, f"{t:04d}.png")))
            tag = "eye_region" if eye_region else "full"
            out[f"{tag}_pixels_sha256"] = pixels.hexdigest()
            out[f"{tag}_label_rows_sha256"] = labels.hexdigest()
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", nargs="+", choices=["labels", "frames"])
    ap.add_argument("--out", help="also write the hashes to this JSON file")
    args = ap.parse_args(argv)
    result = {"numpy": np.__version__}
    if "labels" in args.what:
        result.update(labels_hash())
    if "frames" in args.what:
        import bpy
        result["bpy"] = bpy.app.version_string
        result.update(frames_hash())
    text = json.dumps(result, indent=1, sort_keys=True)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
