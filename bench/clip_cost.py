"""Where an eye-region clip's CPU time goes, clip by clip, in one process (issue 10).

    python bench/clip_cost.py --clips 0 10

For each clip of configs/eye_crops.json (1 render thread, the generator's own FaceScene.render_clip):
the clip's CPU seconds, the part outside the render calls (identity, camera, lights, background,
posing, labels), the first frame's render call (shader and BVH build; a physical sky's
precompute) and the median of the later frames'. Process start-up and scene build are printed
once (a worker pays them once for all its clips).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(argv=None) -> list:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=os.path.join(REPO, "configs", "eye_crops.json"))
    p.add_argument("--clips", type=int, nargs=2, default=[0, 10], metavar=("FIRST", "END"))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    c0 = cpu_s()
    import bpy  # noqa: F401  (its import is part of the start-up)

    from generator import scene as scene_mod
    from generator.config import load_config
    from generator.sampling import sample_clip
    cfg = load_config(args.config)
    sc = scene_mod.FaceScene(cfg)
    print(f"bpy import + scene build: {cpu_s() - c0:.2f} CPU-s (once per process)")
    sc.scene.render.threads_mode, sc.scene.render.threads = "FIXED", args.threads
    render_png = sc.render_frame_png
    calls: list = []

    def timed(path):
        c = cpu_s()
        out = render_png(path)
        calls.append(cpu_s() - c)
        return out
    sc.render_frame_png = timed
    out = tempfile.mkdtemp(prefix="clip_cost_")
    rows = []
    for i in range(*args.clips):
        spec = sample_clip(cfg, i)
        calls.clear()
        c = cpu_s()
        sc.render_clip(spec, os.path.join(out, str(i)))
        total = cpu_s() - c
        row = {"clip": i, "background": type(spec.background).__name__, "total": total,
               "outside_render": total - sum(calls), "frame0": calls[0], "later_median": statistics.median(calls[1:])}
        rows.append(row)
        print(f"clip {i} {row['background']}: {total:.2f} CPU-s; outside the render calls {row['outside_render']:.2f}, "
              f"frame 0 {row['frame0']:.3f}, later frames (median) {row['later_median']:.3f}")
    for kind in sorted({r["background"] for r in rows}):
        sel = [r for r in rows if r["background"] == kind]
        print(f"{kind} ({len(sel)} clips): median clip {statistics.median(r['total'] for r in sel):.2f} CPU-s, "
              f"frame 0 {statistics.median(r['frame0'] for r in sel):.3f}, "
              f"later frames {statistics.median(r['later_median'] for r in sel):.3f}")
    return rows


if __name__ == "__main__":
    main()
