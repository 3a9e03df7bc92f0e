"""Render speed of one FaceScene: frames per second per core, first clip vs steady state, and
the per-frame split into scene update (pose + labels), render call and PNG write.

    python bench/render_speed.py                         # default quality (config defaults), 4 clips
    python bench/render_speed.py --clips 3 --frames 4 --resolution 160 160 --samples 8
    python bench/render_speed.py --threads 2 --eye-region

One process, one scene (built once, as a worker does); clips come from the real sampler, so
identities, lights and backgrounds change between clips like in a dataset run. Render threads
are fixed (--threads, default 1) so "per core" means what it says. Prints a markdown table;
--json keeps the numbers. On a shared machine the numbers move with the load: say so when you
quote them.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from manifests import atomic  # noqa: E402  (the project's one atomic write)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None, help="generator config file (default: GeneratorConfig defaults)")
    p.add_argument("--clips", type=int, default=4, help="clips to render; the first one is reported apart")
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default: the config's)")
    p.add_argument("--resolution", type=int, nargs=2, default=None, metavar=("W", "H"))
    p.add_argument("--samples", type=int, default=None)
    p.add_argument("--engine", default=None, choices=["cycles", "eevee", "workbench"])
    p.add_argument("--eye-region", action="store_true", help="render only the eye regions (render border)")
    p.add_argument("--threads", type=int, default=1, help="render threads (per-core numbers divide by this)")
    p.add_argument("--start", type=int, default=0, help="first clip index")
    p.add_argument("--out", default=None, help="where frames go (default: a temp dir, removed)")
    p.add_argument("--json", default=None, help="also write the numbers here")
    args = p.parse_args(argv)

    from generator.config import load_config
    from generator.sampling import sample_clip

    overrides = {}
    if args.frames:
        overrides["clip.n_frames"] = args.frames
    if args.resolution:
        overrides["clip.resolution"] = list(args.resolution)
    if args.samples:
        overrides["render.samples"] = args.samples
    if args.engine:
        overrides["render.engine"] = args.engine
    if args.eye_region:
        overrides["render.eye_region"] = True
    cfg = load_config(args.config, overrides)

    from generator.scene import FaceScene

    t0 = time.perf_counter()
    scene = FaceScene(cfg)
    build_s = time.perf_counter() - t0
    scene.scene.render.threads_mode = "FIXED"
    scene.scene.render.threads = args.threads

    out = args.out or tempfile.mkdtemp(prefix="render_speed_")
    clips = []
    for i in range(args.start, args.start + args.clips):
        spec = sample_clip(cfg, i)
        t0, c0 = time.perf_counter(), _cpu_s()
        scene.render_clip(spec, os.path.join(out, spec.clip_id))
        wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
        tm = scene.last_timings
        clips.append({"clip_id": spec.clip_id, "frames": len(tm), "wall_s": wall, "cpu_s": cpu,
                      "update_s": sum(t["update_s"] for t in tm), "render_s": sum(t["render_s"] for t in tm),
                      "write_s": sum(t["write_s"] for t in tm)})
        print(f"clip {spec.clip_id}: {len(tm)} frames in {wall:.1f} s", file=sys.stderr, flush=True)
    if not args.out:
        import shutil
        shutil.rmtree(out, ignore_errors=True)

    def summary(rows):
        frames = sum(r["frames"] for r in rows)
        wall = sum(r["wall_s"] for r in rows)
        per = {k: sum(r[k] for r in rows) / frames for k in ("update_s", "render_s", "write_s")}
        other = wall / frames - sum(per.values())  # clip set-up: identity, camera, lights, background
        cpu = sum(r["cpu_s"] for r in rows)
        return {"clips": len(rows), "frames": frames, "s_per_frame": wall / frames,
                "fps_per_core": frames / wall / args.threads, "cpu_s_per_frame": cpu / frames,
                "fps_per_cpu_second": frames / cpu, **per, "clip_setup_s_per_frame": other}

    result = {
        "settings": {"resolution": list(cfg.clip.resolution), "frames": cfg.clip.n_frames,
                     "engine": cfg.render.engine, "samples": cfg.render.samples, "denoise": scene.render_info["denoise"],
                     "eye_region": bool(cfg.render.eye_region), "threads": args.threads,
                     "blender": ".".join(map(str, __import__("bpy").app.version)), "cpus": os.cpu_count()},
        "build_s": build_s,
        "first_clip": summary(clips[:1]),
        "steady_state": summary(clips[1:]) if len(clips) > 1 else None,
        "clips": clips,
    }
    print(markdown(result))
    if args.json:
        atomic.write_text(args.json, json.dumps(result, indent=1))
    return result


def _cpu_s() -> float:
    """CPU seconds of this process, all threads (render threads included): on a shared machine
    this is the honest per-core cost, wall time also counts the other tenants."""
    import resource
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def markdown(r: dict) -> str:
    s = r["settings"]
    lines = [f"Render speed: {s['resolution'][0]}x{s['resolution'][1]}, {s['frames']} frames/clip, {s['engine']} "
             f"{s['samples']} samples, denoise {'on' if s['denoise'] else 'off'}, eye_region {s['eye_region']}, "
             f"{s['threads']} render thread(s), Blender {s['blender']}, {s['cpus']} CPUs; scene build {r['build_s']:.2f} s",
             "",
             "| | clips | frames | wall s/frame | frames/s/core (wall) | CPU s/frame | frames per CPU-s | update s/frame | render s/frame | write s/frame | clip set-up s/frame |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in ("first_clip", "steady_state"):
        v = r.get(name)
        if not v:
            continue
        lines.append(f"| {name.replace('_', ' ')} | {v['clips']} | {v['frames']} | {v['s_per_frame']:.2f} | "
                     f"{v['fps_per_core']:.3f} | {v['cpu_s_per_frame']:.2f} | {v['fps_per_cpu_second']:.3f} | {v['update_s']:.3f} | {v['render_s']:.2f} | {v['write_s']:.3f} | "
                     f"{v['clip_setup_s_per_frame']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
