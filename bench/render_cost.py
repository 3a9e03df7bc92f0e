"""CPU seconds per eye_crops clip, this checkout vs another (e.g. main 55b011f), side by side.

    git worktree add /tmp/main-55b011f 55b011f
    python bench/render_cost.py --baseline /tmp/main-55b011f --clips 6 --rounds 3

Each round runs the real entry point once per checkout, alternating (A, B, A, B, ...):
``python -m generator.render --config configs/eye_crops.json --clips N --workers 1`` into a
fresh directory, and takes the CPU time of that process (getrusage RUSAGE_CHILDREN before and
after: user + system, every thread, Blender start-up and scene build included). CPU seconds rather
than wall time because this machine is shared; medians over rounds; the ratio is the median
of the per-round ratios. Blender renders with its default threads (all cores), as a user's run.
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
from manifests import atomic  # noqa: E402  (the project's one atomic write)


def run_once(tree: str, out: str, clips: int, config: str, extra: list) -> dict:
    """One render run; extra arguments after ours (a later --workers wins)."""
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=tree)
    cmd = [sys.executable, "-m", "generator.render", "--out", out, "--config", os.path.join(tree, config),
           "--clips", str(clips), "--workers", "1"] + extra
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{tree}: render failed (exit {proc.returncode}): {err.decode()[-2000:]}")
    return {"wall_s": wall}


def children_cpu() -> float:
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", required=True, help="another checkout of the repository (e.g. main 55b011f)")
    p.add_argument("--clips", type=int, default=6)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--config", default="configs/eye_crops.json", help="relative to each checkout")
    p.add_argument("--args", default="", help="extra render arguments for this checkout (e.g. '--workers 2')")
    p.add_argument("--baseline-args", default="", help="extra render arguments for the baseline")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    extra = {"baseline": args.baseline_args.split(), "this": args.args.split()}
    trees = {"baseline": os.path.abspath(args.baseline), "this": REPO}
    work = tempfile.mkdtemp(prefix="render_cost_")
    runs = {k: [] for k in trees}
    try:
        for rnd in range(args.rounds):
            for name, tree in trees.items():
                c0 = children_cpu()
                r = run_once(tree, os.path.join(work, name), args.clips, args.config, extra[name])
                r["cpu_s"] = children_cpu() - c0
                r["cpu_s_per_clip"] = r["cpu_s"] / args.clips
                runs[name].append(r)
                print(f"round {rnd} {name}: {r['cpu_s_per_clip']:.2f} CPU-s/clip, {r['wall_s']:.1f} s wall "
                      f"(load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratios = [b["cpu_s"] / t["cpu_s"] for b, t in zip(runs["baseline"], runs["this"])]
    res = {"clips": args.clips, "rounds": args.rounds, "config": args.config, "args": extra,
           "baseline": args.baseline, "load_average_end": os.getloadavg(),
           "cpu_s_per_clip": {k: statistics.median(r["cpu_s_per_clip"] for r in v) for k, v in runs.items()},
           "ratio_median": statistics.median(ratios), "ratios": ratios, "runs": runs}
    this = res["cpu_s_per_clip"]["this"]
    res["clips_per_hour_2_cores"] = 2 * 3600.0 / this
    print(f"CPU-s per clip ({args.config}, {args.clips} clips per run incl. start-up, --workers 1, median of "
          f"{args.rounds} alternating rounds): baseline {res['cpu_s_per_clip']['baseline']:.2f}, this "
          f"{this:.2f}; ratio {res['ratio_median']:.2f}x (per round: {', '.join(f'{x:.2f}' for x in ratios)}); "
          f"3,000 clips on 2 fully used cores: {3000 * this / 2 / 60:.0f} min; load average at the end "
          f"{', '.join(f'{x:.1f}' for x in res['load_average_end'])}")
    if args.json:
        atomic.write_text(args.json, json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
