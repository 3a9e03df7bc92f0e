"""Render a SynBlink dataset. Two ways in, same code:

    python -m generator.render --out DIR --clips N --seed S [--config FILE] [--workers N] ...
    blender --background --python generator/render.py -- --out DIR --clips N --seed S ...

The config is validated before anything renders (bad value: message naming the field,
exit 2). DIR/config.json records config, seed and versions; a rerun with another config
into the same DIR is refused, so resume never mixes configs. Rerunning the same command
resumes: complete clips are skipped, interrupted ones cleaned and rendered again.
Exit status: 0 all clips rendered, 1 some clips failed (rerun to retry them), 2 bad input.
"""
from __future__ import annotations

import os
import platform
import sys
import time

if __name__ == "__main__" and __package__ in (None, ""):
    # Run as a script by Blender: put the repo root on sys.path.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from generator import pool, writers  # noqa: E402


def _versions() -> dict:
    v = {"python": platform.python_version()}
    try:
        import numpy
        v["numpy"] = numpy.__version__
    except ImportError:
        pass
    bpy = sys.modules.get("bpy")
    if bpy is not None:
        v["blender"] = bpy.app.version_string
    else:
        try:
            from importlib.metadata import version
            v["blender"] = "bpy " + version("bpy")
        except Exception:
            pass
    try:
        from importlib.metadata import version
        v["synblink"] = version("synblink")
    except Exception:
        pass
    return v


def _fail(msg: str, code: int = 2) -> int:
    print(f"generator.render: error: {msg}", file=sys.stderr, flush=True)
    return code


def main(argv=None) -> int:
    from generator.args import argv_after_dashdash, build_parser, config_from_args
    from generator.config import ConfigError

    parser = build_parser()
    args = parser.parse_args(argv_after_dashdash(sys.argv if argv is None else argv))
    try:
        cfg = config_from_args(args)
        cfg.validate()
    except (ConfigError, ValueError, OSError) as e:
        return _fail(str(e))
    if cfg.render.engine == "cycles" and cfg.render.device == "gpu" and not getattr(args, "ray", None):
        from generator import compat  # bpy: checked here, before anything is written
        if not compat.gpu_devices():
            return _fail(f"render.device=gpu: Cycles in Blender {compat.bpy.app.version_string} finds no GPU "
                         f"({', '.join(compat.GPU_BACKENDS)}); use --device cpu, or auto to fall back to the CPU")
    out = os.path.abspath(args.out)
    n_clips = int(cfg.n_clips)  # --clips N sets it
    workers = int(getattr(args, "workers", 1) or 1)
    video = bool(cfg.output.video)  # --video sets it
    try:
        if video:
            writers.find_ffmpeg()
        indices = pool.shard_indices(n_clips, getattr(args, "shard", None))
        record = writers.write_dataset_config(out, cfg.to_dict(), seed=int(cfg.seed), versions=_versions())
    except (writers.DatasetError, pool.PoolError) as e:
        return _fail(str(e))

    from generator.sampling import clip_id_for
    clip_ids = {i: clip_id_for(cfg, i) for i in indices}
    done = writers.completed_clip_ids(out)
    todo = [i for i in indices if clip_ids[i] not in done]
    removed = writers.clean_partial_clips(out, [clip_ids[i] for i in todo])
    print(f"generator.render: {out}: {len(indices)} clips in this run, {len(indices) - len(todo)} "
          f"already complete, {len(todo)} to render"
          + (f" (cleaned {len(removed)} leftovers of an interrupted run)" if removed else ""),
          file=sys.stderr, flush=True)

    progress = pool.Progress(total=len(indices), initial=len(indices) - len(todo))
    t0 = time.time()
    try:
        if not todo:
            result = pool.RunResult()
        elif getattr(args, "ray", None):
            result = pool.render_with_ray(out, record["config"], todo, clip_ids, progress,
                                          address=args.ray,
                                          # --workers N: N actors; left at 1: one per cluster CPU
                                          n_workers=workers if workers > 1 else None)
        elif workers == 1:
            from generator.worker import ClipRenderer
            try:
                renderer = ClipRenderer(out, cfg)
            except Exception as e:  # missing asset, broken Blender: nothing rendered, say why
                raise pool.PoolError(f"cannot build the scene: {type(e).__name__}: {e}") from e
            result = pool.render_in_process(renderer, todo, clip_ids, progress)
        else:
            result = pool.LocalPool(out, workers).run(todo, clip_ids, progress)
    except pool.PoolError as e:
        progress.close()
        writers.write_manifests(out)  # keep what was committed visible
        return _fail(f"{e}\nRerun the same command to resume.", code=1)
    finally:
        progress.close()
    # Merge everything committed so far (other shards in this directory included).
    n_frames, n_rows = writers.write_manifests(out)
    wall = time.time() - t0
    print(f"generator.render: rendered {len(result.done)} clips in {wall:.1f} s with "
          f"{result.workers_started} worker(s); {out}/frames.csv has {n_frames} frames of {n_rows} clips",
          file=sys.stderr, flush=True)
    if result.failed:
        ids = ", ".join(clip_ids[i] for i in sorted(result.failed))
        return _fail(f"{len(result.failed)} clips failed: {ids}. Rerun the same command to retry them "
                     f"(worker logs in {os.path.join(out, pool.LOG_DIR)}).", code=1)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    if "bpy" in sys.modules:
        # Leave without Blender's/bpy's teardown (slow, and it may print or crash at exit).
        os._exit(code)
    sys.exit(code)
