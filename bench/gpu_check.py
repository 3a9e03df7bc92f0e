"""The GPU render path end to end, in under four minutes: the same eye_crops clips rendered by
Cycles on the GPU and on one CPU core; clips/hour of each and the SSIM of every 48x48 eye crop
(cut by the trainer's cropper) of the GPU frames against the CPU frames.

    python bench/gpu_check.py                       # --json FILE keeps the numbers
    python bench/gpu_check.py --gpu-device cpu      # the whole path on the CPU (no GPU needed)

Exit status: 0 the check ran and passed, or was SKIPPED (said in one line: no bpy / Blender,
or a Blender whose Cycles finds no GPU); 1 it ran and missed a target (GPU >= 20x the
clips/hour of one CPU core; every crop SSIM >= 0.95); 2 it could not run (a render failed).
Each side renders in its own process (``--child``) so a GPU driver crash cannot take the
parent with it; each child gets a share of --budget-s and renders as many clips as fit.
The trainer half of the GPU check (bf16 autocast, DDP) is a separate script.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from manifests import atomic  # noqa: E402  (the project's one atomic write)
CONFIG = os.path.join(REPO, "configs", "eye_crops.json")
MIN_SPEEDUP, MIN_SSIM = 20.0, 0.95


def blender_status() -> tuple:
    """(ok, one line): is there a Blender this Python can render with, and does Cycles see a GPU?"""
    if importlib.util.find_spec("bpy") is None:
        return False, (f"no GPU-capable Blender: no bpy module for Python {sys.version_info.major}."
                       f"{sys.version_info.minor} (the bpy 5.0.1 wheel is cp311 only: pip install -e '.[render]' "
                       f"under Python 3.11)")
    return True, "bpy found"


def child(args) -> int:
    """Render clips 0.. of eye_crops into args.out on one device until args.seconds run out."""
    import resource

    from generator import compat, writers
    from generator.config import load_config
    from generator.worker import ClipWorker

    device = args.child
    cfg = load_config(CONFIG, {"render.device": device, "n_clips": args.max_clips})
    writers.write_dataset_config(args.out, cfg.to_dict(), seed=int(cfg.seed))
    t0 = time.perf_counter()
    renderer = ClipWorker(args.out, cfg, threads=1 if device == "cpu" else None)
    build_s = time.perf_counter() - t0
    info = dict(renderer.scene.render_info)
    clips = []
    t_start = time.perf_counter()
    for index in range(args.max_clips):
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        rec = renderer.render(index)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        clips.append({"index": index, "seconds": rec["seconds"],
                      "cpu_s": ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime})
        if time.perf_counter() - t_start > args.seconds:
            break
    writers.write_manifests(args.out)
    print(json.dumps({"device": device, "render_info": info, "build_s": build_s, "clips": clips,
                      "blender": compat.bpy.app.version_string}), flush=True)
    return 0


def run_child(device: str, out: str, seconds: float, max_clips: int, timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", device, "--out", out,
           "--seconds", str(seconds), "--max-clips", str(max_clips)]
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{device} render failed (exit {r.returncode}): {r.stderr.strip()[-1500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def crop_ssim(dir_a: str, dir_b: str, indices: list) -> list:
    """SSIM of every 48x48 eye crop of clips ``indices`` in dataset a vs the same crop in b."""
    import csv

    import numpy as np

    from generator.config import load_config
    from generator.sampling import clip_id_for
    from trainer.crops import CropConfig, crop_boxes, crop_eye, read_image

    cfg = load_config(CONFIG, {})
    wanted = {clip_id_for(cfg, i) for i in indices}
    cc = CropConfig(size=48)
    out = []
    with open(os.path.join(dir_a, "frames.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["clip_id"] in wanted]
    for r in rows:
        a, b = read_image(os.path.join(dir_a, r["image"])), read_image(os.path.join(dir_b, r["image"]))
        for eye in ("left", "right"):
            box = crop_boxes(np.array([[float(r[f"{eye}_outer_x"]), float(r[f"{eye}_outer_y"])]]),
                             np.array([[float(r[f"{eye}_inner_x"]), float(r[f"{eye}_inner_y"])]]), cc)[0]
            out.append(ssim_rgb(crop_eye(a, box, 48), crop_eye(b, box, 48)))
    return out


def ssim_rgb(a, b) -> float:
    """SSIM of two uint8 RGB images as skimage's structural_similarity(channel_axis=-1,
    data_range=255) computes it (7x7 uniform window, sample covariance, borders of 3 px left
    out): OpenCV only, since a GPU render node may have no scikit-image."""
    import cv2
    import numpy as np

    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    blur = lambda im: cv2.blur(im, (7, 7))  # noqa: E731
    ux, uy = blur(x), blur(y)
    norm = 49.0 / 48.0
    vx, vy = norm * (blur(x * x) - ux * ux), norm * (blur(y * y) - uy * uy)
    vxy = norm * (blur(x * y) - ux * uy)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s[3:-3, 3:-3].mean())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gpu-device", default="gpu", choices=("gpu", "cpu"),
                   help="device of the 'GPU' side (cpu: run the whole path without a GPU)")
    p.add_argument("--budget-s", type=float, default=200.0, help="render seconds in all (start-up excluded)")
    p.add_argument("--json", default=None)
    p.add_argument("--child", default=None, choices=("gpu", "cpu"), help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=60.0, help=argparse.SUPPRESS)
    p.add_argument("--max-clips", type=int, default=64, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)

    ok, why = blender_status()
    report = {"status": "skipped", "why": why}
    if ok:
        from generator import compat
        found = compat.gpu_devices()
        report["gpus"] = found
        if args.gpu_device == "gpu" and not found:
            ok, why = False, (f"no GPU-capable Blender: Cycles in Blender {compat.bpy.app.version_string} finds no "
                              f"GPU ({', '.join(compat.GPU_BACKENDS)})")
            report["why"] = why
    if not ok:
        print(f"gpu_check: render: SKIPPED: {why}")
        _write(args.json, report)
        return 0
    work = tempfile.mkdtemp(prefix="gpu_check_")
    try:
        # CPU (one core) first, on few clips: it sets how many clips the SSIM compares.
        cpu = run_child("cpu", os.path.join(work, "cpu"), 0.3 * args.budget_s, 64, timeout=args.budget_s)
        gpu = run_child(args.gpu_device, os.path.join(work, "gpu"), 0.5 * args.budget_s, 64,
                        timeout=args.budget_s)
        common = sorted({c["index"] for c in cpu["clips"]} & {c["index"] for c in gpu["clips"]})
        ssim = crop_ssim(os.path.join(work, "gpu"), os.path.join(work, "cpu"), common)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"gpu_check: render: FAILED to run: {e}")
        report.update(status="error", why=str(e))
        _write(args.json, report)
        return 2
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def per_hour(side):  # steady state: the first clip pays the scene sync and kernel load
        steady = side["clips"][1:] or side["clips"]
        return 3600.0 / statistics.median(c["seconds"] for c in steady)

    speedup = per_hour(gpu) / per_hour(cpu)
    passed = speedup >= MIN_SPEEDUP and min(ssim) >= MIN_SSIM
    report.update(status="pass" if passed else "fail", cpu=cpu, gpu=gpu, speedup=speedup,
                  ssim_median=statistics.median(ssim), ssim_min=min(ssim), n_crops=len(ssim))
    print(f"gpu_check: render: {'PASS' if passed else 'FAIL'}: {gpu['render_info'].get('device')} "
          f"{per_hour(gpu):.0f} clips/h vs one CPU core {per_hour(cpu):.0f} clips/h = {speedup:.1f}x "
          f"(target >= {MIN_SPEEDUP:.0f}x); eye-crop SSIM GPU vs CPU median {statistics.median(ssim):.3f} "
          f"min {min(ssim):.3f} over {len(ssim)} crops of {len(common)} clips (target >= {MIN_SSIM}); "
          f"Blender {gpu['blender']}, eye_crops config")
    _write(args.json, report)
    return 0 if passed else 1


def _write(path, report) -> None:
    if path:
        atomic.write_text(path, json.dumps(report, indent=1))


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip bpy's teardown in the children
