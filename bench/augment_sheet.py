"""Contact sheet: real eye-state crops beside augmented synthetic crops (for looking at them).

    python bench/augment_sheet.py --data DIR --real ../shared/realdata/eye-state-kaggle/originalData \
        --preset strong --out sheet.png [--n 48]

Real crops (resized as trainer.predict's "square" fit does) above a red row, synthetic training
windows (one frame each, the most closed one of a blink) after the named augmentation preset
below it, so the two can be compared at the model's 48 x 48. Also prints how often framing was clamped to what the
renders hold (the draw shrunk or replaced by the nominal crop). Real data: looking only.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.augment import WindowAugment, draw_framing  # noqa: E402
from trainer.crops import contact_sheet, read_image  # noqa: E402
from trainer.data import EyeWindowDataset  # noqa: E402
from trainer.predict import crop_still, list_images  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--real", required=True)
    p.add_argument("--preset", default="strong")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=48)
    p.add_argument("--size", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    aug = WindowAugment(a.preset)
    ds = EyeWindowDataset(a.data, augment=aug, crop_size=a.size, seed=a.seed)
    rng = np.random.default_rng(a.seed)
    idx = rng.choice(len(ds), size=min(a.n, len(ds)), replace=False)
    closed = np.nanmax(ds._closure, axis=1)
    synth, labels = [], []
    for i in idx:
        item = ds[int(i)]
        k = int(np.nanargmax(ds._closure[i])) if closed[i] > 0.5 else 0  # the most closed frame of a blink
        synth.append(item["frames"][k].numpy())
        labels.append(closed[i] > 0.5)
    # framing statistics over many windows (draws only: cheap)
    if ds.context is not None:
        scales, g = [], torch.Generator().manual_seed(a.seed)
        for i in rng.choice(len(ds), size=min(400, len(ds)), replace=False):
            f = ds[int(i)]  # noqa: F841  (exercise the whole item path once per window)
            from trainer.augment import FramingInput
            fi = FramingInput(boxes=ds._boxes[ds._rows[i], int(ds._eye[i])].astype(float),
                              rects=ds.rects(int(i)).astype(float), corner_scale=ds.crop.scale,
                              context_scale=ds.context.scale, size=ds.crop.size)
            scales.append(draw_framing(fi, aug.cfg, g)[0])
        s = np.array(scales)
        print(f"framing scale over {len(s)} windows: median {np.median(s):.2f}, 90th pct {np.percentile(s, 90):.2f}, "
              f"max {s.max():.2f}, share >= 2.0: {(s >= 2.0).mean():.2f} (asked: {aug.cfg.framing_scale})")
    paths = list_images(a.real)
    if not paths:
        p.error(f"--real {a.real}: no images found")
    pick = [paths[j] for j in rng.choice(len(paths), size=min(a.n, len(paths)), replace=False)]
    real = [crop_still(read_image(q), a.size, "square", None) for q in pick]
    cols = 12
    sep = np.zeros((cols, 3, a.size, a.size), np.uint8)
    sep[:, 0] = 255  # a red row between the real block (top) and the synthetic block (bottom)
    sheet = contact_sheet(np.concatenate([np.stack(real), sep, np.stack(synth)]), cols=cols)
    sheet = cv2.resize(sheet, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(a.out, sheet[..., ::-1])
    print(f"{a.out}: top: real ({a.real}); below the red row: synthetic ({a.data}, preset {a.preset}); "
          f"{sum(labels)} of {len(labels)} synthetic crops are closed eyes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
