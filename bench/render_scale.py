"""Render throughput, overhead, scaling, memory and quality, measured side by side in one run.

    python bench/render_scale.py                 # everything (long: the memory section renders 500 clips)
    python bench/render_scale.py --quick         # the short version (fewer clips, smaller sweep)
    python bench/render_scale.py --only process,breakdown,scaling,memory,eye_region,quality

Sections (every number is a median over clips unless said otherwise):
- process:    one Blender process per clip (the original SynBlink design) vs one process per
              worker rendering many clips (this project): seconds per clip.
- breakdown:  per-frame time inside Blender's render call vs everything else (posing and labels,
              PNG save, sampling, commit, process start-up amortised), steady state.
- scaling:    two workers on two cores vs one: clips/hour.
- memory:     worker RSS after clip N/10 vs after clip N (N = 500, or --memory-clips).
- eye_region: clips/hour of the eye-region mode (one process per worker) vs the original design
              (one process per clip, full 350x350 frames), and SSIM of 48x48 eye crops against a
              high-sample reference render of the same clip.
- quality:    render samples x denoiser sweep in eye-region mode: per-frame time and SSIM vs reference,
              and the cheapest setting with SSIM >= 0.95.
Results go to stdout and to --json. Targets (docs in bench/README.md): outside-render <= 15% of wall,
2 workers >= 1.8x one, memory growth < 5%, eye-region >= 5x clips/hour at SSIM >= 0.95.
"""
from __future__ import annotations

import argparse
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

from generator import pool, writers  # noqa: E402
from generator.config import load_config  # noqa: E402
from generator.sampling import clip_id_for  # noqa: E402

SECTIONS = ("process", "breakdown", "scaling", "memory", "eye_region", "quality")


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def make_cfg(overrides: dict):
    return load_config(None, overrides)


def prepare(out: str, cfg) -> None:
    shutil.rmtree(out, ignore_errors=True)
    writers.write_dataset_config(out, cfg.to_dict(), seed=int(cfg.seed))


def run_pool(out: str, cfg, n_clips: int, n_workers: int, first: int = 0):
    """One process per worker (this project). Returns (wall seconds, RunResult)."""
    prepare(out, cfg)
    indices = list(range(first, first + n_clips))
    ids = {i: clip_id_for(cfg, i) for i in indices}
    t0 = time.perf_counter()
    result = pool.LocalPool(out, n_workers).run(indices, ids, pool.Progress(n_clips, quiet=True))
    wall = time.perf_counter() - t0
    if result.failed:
        raise RuntimeError(f"{len(result.failed)} clips failed: {list(result.failed.values())[0][-2000:]}")
    return wall, result


def run_process_per_clip(out: str, cfg, n_clips: int):
    """The original design: a fresh Blender (here: bpy) process for every clip. Seconds per clip."""
    prepare(out, cfg)
    cfg_path = os.path.join(out, "bench_config.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg.to_dict(), f)
    times = []
    for i in range(n_clips):
        cmd = [sys.executable, "-m", "generator.render", "--out", out, "--config", cfg_path,
               "--clips", str(n_clips), "--shard", f"{i}/{n_clips}", "--workers", "1"]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            raise RuntimeError(f"per-clip process failed: {r.stderr[-2000:]}")
    return times


def steady(done: list, skip: int = 1) -> list:
    """Clip records after each worker's first ``skip`` clips (caches warm)."""
    done = sorted(done, key=lambda m: m["finished_at"])
    return done[skip:] if len(done) > skip else done


def per_frame_breakdown(done: list) -> dict:
    rec = steady(done)
    frames = [m["frames"] for m in rec]
    def per_frame(key):
        return median([m[key] / n for m, n in zip(rec, frames) if m.get(key) is not None])
    total = per_frame("seconds")
    render = per_frame("frame_render_s") if rec and "frame_render_s" in rec[0] else per_frame("render_seconds")
    return {"clip_seconds": median([m["seconds"] for m in rec]),
            "frame_total_s": total, "frame_render_call_s": render,
            "frame_pose_labels_s": per_frame("frame_update_s"), "frame_png_save_s": per_frame("frame_write_s"),
            "frame_sample_s": per_frame("sample_seconds"), "frame_commit_s": per_frame("write_seconds"),
            "outside_render_fraction": (1 - render / total) if total else float("nan")}


# ----------------------------------------------------------------------------- eye crops and SSIM

def eye_crops(out: str, size: int = 48):
    """{(clip_id, frame, eye): uint8 [size, size, 3]} from frames.csv landmarks (trainer's cropper)."""
    import numpy as np
    import pandas as pd
    from trainer.crops import CropConfig, crop_boxes, crop_eye, read_image
    writers.write_manifests(out)
    df = pd.read_csv(os.path.join(out, "frames.csv"))
    cc = CropConfig(size=size)
    crops = {}
    for _, r in df.iterrows():
        img = read_image(os.path.join(out, r["image"]))
        for eye in ("left", "right"):
            box = crop_boxes(np.array([[r[f"{eye}_outer_x"], r[f"{eye}_outer_y"]]]),
                             np.array([[r[f"{eye}_inner_x"], r[f"{eye}_inner_y"]]]), cc)[0]
            crops[(r["clip_id"], int(r["frame"]), eye)] = crop_eye(img, box, size)
    return crops


def crop_ssim(test: dict, ref: dict) -> float:
    from skimage.metrics import structural_similarity
    vals = [structural_similarity(test[k], ref[k], channel_axis=2, data_range=255) for k in ref if k in test]
    return median(vals)


# ----------------------------------------------------------------------------- sections

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short version: fewer clips, smaller sweep")
    p.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    p.add_argument("--clips", type=int, default=None, help="clips per timing run (default 8, quick 4)")
    p.add_argument("--memory-clips", type=int, default=None, help="clips in the memory run (default 500, quick 60)")
    p.add_argument("--resolution", type=int, default=None, help="frame side for process/breakdown/scaling/memory "
                                                                 "(default 350, quick 128)")
    p.add_argument("--frames", type=int, default=13)
    p.add_argument("--samples", type=int, default=None, help="render samples for the timing sections "
                                                              "(default: the config default)")
    p.add_argument("--denoise", type=int, choices=(0, 1), default=None,
                   help="denoiser on/off for the timing sections (default: the config default)")
    p.add_argument("--eye-samples", type=int, default=None,
                   help="samples of the eye-region run (default: the config default; pick one from the quality sweep)")
    p.add_argument("--ref-samples", type=int, default=128, help="samples of the SSIM reference render")
    p.add_argument("--work", default=None, help="scratch directory (default: a temp dir, removed)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        p.error(f"--only: unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    n = args.clips or (4 if args.quick else 8)
    n_mem = args.memory_clips or (60 if args.quick else 500)
    res = args.resolution or (128 if args.quick else 350)
    work = args.work or tempfile.mkdtemp(prefix="synblink-bench-")
    base = {"clip.n_frames": args.frames, "clip.resolution": [res, res], "seed": 0}
    if args.samples:
        base["render.samples"] = args.samples
    if args.denoise is not None:
        base["render.denoise"] = bool(args.denoise)
    cfg = make_cfg(base)
    results = {"args": vars(args), "cpu_count": os.cpu_count(),
               "config": {"resolution": res, "frames": args.frames, "samples": cfg.render.samples,
                          "denoise": cfg.render.denoise, "engine": cfg.render.engine}}
    print(f"bench: work dir {work}; {n} clips per run, {args.frames} frames, {res}x{res}, "
          f"{cfg.render.engine} {cfg.render.samples} samples, denoise={cfg.render.denoise}", flush=True)

    def report(name, d):
        results[name] = d
        print(f"\n[{name}]", flush=True)
        for k, v in d.items():
            print(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}", flush=True)

    try:
        one = None
        if "process" in sections or "breakdown" in sections:
            wall1, one = run_pool(os.path.join(work, "pool1"), cfg, n, 1)
        if "process" in sections:
            per_clip = run_process_per_clip(os.path.join(work, "per_clip"), cfg, n)
            pooled = median([m["seconds"] for m in steady(one.done)])
            report("process", {
                "process_per_clip_s_per_clip": median(per_clip),
                "process_per_worker_s_per_clip": pooled,
                "process_per_worker_wall_s_per_clip_incl_startup": wall1 / n,
                "scene_build_s": median([m.get("build_seconds") for m in one.ready]),
                "speedup": median(per_clip) / pooled})
        if "breakdown" in sections:
            b = per_frame_breakdown(one.done)
            b["outside_render_fraction_of_pool_wall"] = 1 - sum(
                m.get("frame_render_s", m.get("render_seconds") or 0) for m in one.done) / wall1
            report("breakdown", b)
        if "scaling" in sections:
            m = 2 * n
            w1, r1 = run_pool(os.path.join(work, "scale1"), cfg, m, 1)
            w2, r2 = run_pool(os.path.join(work, "scale2"), cfg, m, 2)
            def steady_rate(done):  # clips/hour between the first and last completion
                ts = sorted(x["finished_at"] for x in done)
                return 3600 * (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) > 1 else float("nan")
            report("scaling", {"clips": m, "one_worker_clips_per_hour": 3600 * m / w1,
                               "two_workers_clips_per_hour": 3600 * m / w2, "speedup_wall": w1 / w2,
                               "speedup_steady": steady_rate(r2.done) / steady_rate(r1.done),
                               # CPU work per clip: comparable even when other jobs share the cores
                               "one_worker_cpu_s_per_clip": median([x["cpu_seconds"] for x in steady(r1.done)]),
                               "two_workers_cpu_s_per_clip": median([x["cpu_seconds"] for x in steady(r2.done)]),
                               "load_average_1min": os.getloadavg()[0]})
        if "memory" in sections:
            mcfg = make_cfg({**base, "render.samples": 1, "render.denoise": False, "clip.resolution": [64, 64]})
            _, r = run_pool(os.path.join(work, "memory"), mcfg, n_mem, 1)
            rss = [x["rss_mb"] for x in sorted(r.done, key=lambda x: x["finished_at"])]
            k = max(1, n_mem // 10)
            report("memory", {"clips": n_mem, f"rss_mb_after_clip_{k}": rss[k - 1],
                              f"rss_mb_after_clip_{n_mem}": rss[-1], "growth": rss[-1] / rss[k - 1] - 1,
                              "rss_mb_min": min(rss), "rss_mb_max": max(rss)})
        if "eye_region" in sections or "quality" in sections:
            full = {**base, "clip.resolution": [350, 350]}
            full.pop("render.samples", None)
            full.pop("render.denoise", None)
            ne = max(2, n // 2)
            eye_over = {"render.samples": args.eye_samples} if args.eye_samples else {}
            orig_cfg, eye_cfg = make_cfg(full), make_cfg({**full, "render.eye_region": True, **eye_over})
            ref_over = {"render.samples": args.ref_samples, "render.denoise": True}
            _, rr = run_pool(os.path.join(work, "eye_ref"), make_cfg({**full, "render.eye_region": True, **ref_over}),
                             ne, 1)
            ref_crops = eye_crops(os.path.join(work, "eye_ref"))
        if "eye_region" in sections:
            orig = run_process_per_clip(os.path.join(work, "orig"), orig_cfg, ne)
            orig_crops = eye_crops(os.path.join(work, "orig"))
            _, er = run_pool(os.path.join(work, "eye"), eye_cfg, ne, 1)
            eye_c = eye_crops(os.path.join(work, "eye"))
            orig_cph = 3600 / median(orig)
            eye_cph = 3600 / median([m["seconds"] for m in steady(er.done)])
            report("eye_region", {"clips": ne, "original_clips_per_hour": orig_cph, "eye_region_clips_per_hour": eye_cph,
                                  "ratio": eye_cph / orig_cph, "samples": eye_cfg.render.samples,
                                  "eye_region_ssim_vs_ref": crop_ssim(eye_c, ref_crops),
                                  "original_ssim_vs_ref": crop_ssim(orig_crops, ref_crops),
                                  "reference_samples": args.ref_samples})
        if "quality" in sections:
            sweep = [1, 2, 4, 8] if args.quick else [1, 2, 4, 8, 16, 32]
            rows = []
            for samples in sweep:
                for denoise in (False, True):
                    qcfg = make_cfg({**full, "render.eye_region": True, "render.samples": samples,
                                     "render.denoise": denoise})
                    d = os.path.join(work, f"q_{samples}_{int(denoise)}")
                    _, qr = run_pool(d, qcfg, 1 if args.quick else ne, 1)
                    frame_s = median([m.get("frame_render_s", m["seconds"]) / m["frames"] for m in qr.done])
                    s = crop_ssim(eye_crops(d), ref_crops)
                    rows.append({"samples": samples, "denoise": denoise, "frame_render_s": frame_s, "ssim": s})
                    print(f"  quality: samples={samples:3d} denoise={denoise!s:5} {frame_s:.3f} s/frame "
                          f"SSIM {s:.4f}", flush=True)
            good = [r for r in rows if r["ssim"] >= 0.95]
            best = min(good, key=lambda r: r["frame_render_s"]) if good else None
            report("quality", {"sweep": rows, "cheapest_with_ssim_ge_0.95": best})
    finally:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2, default=str)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
