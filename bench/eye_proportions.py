"""Eye proportions of sampled subjects, from the face model alone (no render): opening height and
iris diameter over the eye width (corner distance), the ratios real eyes have (~0.3-0.35, ~0.4).

    python bench/eye_proportions.py [--config configs/eye_crops.json] [--subjects 40]

"fixed iris": the iris radius 0.5 x the eyeball radius used before iris_width_fraction (the
scene's eyeball radius: pupil point to centre / (1 + CORNEA_BULGE)); "sized iris": the rendered
iris, EyeDetail.iris_width_fraction. Percentiles 5/50/95 over both eyes of every subject.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.config import load_config  # noqa: E402
from generator.face_model import FaceModel  # noqa: E402
from generator.sampling.identity import sample_identity, subject_seed_for  # noqa: E402
from generator.scene import CORNEA_BULGE  # noqa: E402


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="configs/eye_crops.json")
    p.add_argument("--subjects", type=int, default=40)
    a = p.parse_args(argv)
    cfg, model = load_config(a.config), FaceModel.load()
    rows = []
    for s in range(a.subjects):
        ident = sample_identity(subject_seed_for(cfg, s), cfg, s)
        iv = np.asarray(model.identity_vertices(ident.macros(), ident.details), np.float64)
        for eye in ("left", "right"):
            lm = model.landmarks(iv, eye)
            width = float(np.linalg.norm(lm["inner"] - lm["outer"]))
            radius = float(np.linalg.norm(model.pupil(iv, eye) - model.eye_centre(iv, eye))) / (1 + CORNEA_BULGE)
            rows.append((width * 1000, model.aperture(iv, eye) / width, radius * 1000,
                         2 * 0.5 * radius / width, ident.eye_detail.iris_width_fraction))
    r = np.array(rows)
    out = {name: np.percentile(r[:, k], [5, 50, 95]).round(3).tolist() for k, name in enumerate(
        ("eye width mm", "opening / width", "eyeball radius mm", "fixed iris / width", "sized iris / width"))}
    for k, v in out.items():
        print(f"{k:20s} {v}")
    return out


if __name__ == "__main__":
    main()
