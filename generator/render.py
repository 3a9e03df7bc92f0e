"""Render a SynBlink dataset. Two ways in, same code:

    python -m generator.render --out DIR --clips N --seed S [--config FILE] [--workers N] ...
    blender --background --python generator/render.py -- --out DIR --clips N --seed S ...

The config is validated before anything renders (bad value: message naming the field,
exit 2). DIR/config.json records config, seed and versions; a rerun with another config
into the same DIR is refused, so resume never mixes configs. Rerunning the same command
resumes: complete clips are skipped, interrupted ones cleaned and rendered again.
One render writes a given set of clips into DIR at a time (DIR/.locks/ names its host and pid).
Exit status: 0 all clips rendered, 1 some clips failed or the run stopped (rerun to retry them),
2 bad input or the dataset cannot be written (one line naming the file), 130/143 stopped by
SIGINT/SIGTERM (workers stopped; rerun to resume).
"""
from __future__ import annotations

import os
import platform
import signal
import sys
import time

if __name__ == "__main__" and __package__ in (None, ""):
    # Run as a script by Blender: put the repo root on sys.path.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from generator import pool, writers  # noqa: E402


def _versions() -> dict:
    from generator.sampling.clip import SPEC_VERSION
    v = {"python": platform.python_version(), "clip_spec": SPEC_VERSION}
    try:
        import numpy
        v["numpy"] = numpy.__version__
    except ImportError:
        pass
    bpy = sys.modules.get("bpy")
    if bpy is not None:
        from generator.worker import blender_version
        v["blender"] = blender_version(bpy)
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


class Interrupted(BaseException):
    """SIGTERM or SIGINT reached the coordinator (BaseException: no clip-level handler eats it)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class _StopState:
    rendering = False  # inside Blender's render call (between render_pre and render_post)
    pending = None     # a signal that came while rendering


def _raise_interrupted(signum, frame):
    if _StopState.rendering:
        # Python code running inside the render (Cycles' engine callback) is Blender's: an
        # exception raised there is printed and swallowed. Say it again once the frame is done.
        _StopState.pending = signum
        return
    raise Interrupted(signum)


def _track_blender_renders() -> None:
    """Rendering in this process: know when Blender's render call runs (see _raise_interrupted)."""
    import threading

    import bpy

    def pre(*_):
        _StopState.rendering = True

    def post(*_):
        _StopState.rendering = False
        if _StopState.pending is not None:  # re-sent from a thread: lands back in our code
            sig, _StopState.pending = _StopState.pending, None
            threading.Timer(0.01, os.kill, (os.getpid(), sig)).start()

    for handlers, fn in ((bpy.app.handlers.render_pre, pre), (bpy.app.handlers.render_post, post),
                         (bpy.app.handlers.render_cancel, post)):
        handlers.append(bpy.app.handlers.persistent(fn))


def _install_stop_handlers() -> dict:
    """SIGTERM/SIGINT -> Interrupted in the main thread. Returns the previous handlers ({} when
    not in the main thread: a notebook or test that calls main() handles signals itself).
    Called again after bpy is imported: Blender installs its own C-level handlers."""
    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _raise_interrupted)
    except ValueError:
        pass
    return previous


def _check_out_dir(out: str) -> None:
    """--out must be a writable directory (created when missing); raises DatasetError."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise writers.DatasetError(f"--out {out}: exists and is not a directory")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise writers.DatasetError(f"--out {out}: cannot create the directory: {e.strerror or e}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise writers.DatasetError(f"--out {out}: directory is not writable")


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
    try:
        _check_out_dir(out)
        lock = writers.DatasetLock(out, shard=getattr(args, "shard", None),
                                   log=lambda m: print(m, file=sys.stderr, flush=True)).acquire()
    except writers.DatasetError as e:
        return _fail(str(e))
    # SIGTERM/SIGINT: stop the workers (LocalPool kills them on the way out), leave the clips in
    # progress for resume, say so in one line, exit 128 + signal number (130 SIGINT, 143 SIGTERM).
    handlers = _install_stop_handlers()
    try:
        if handlers and int(getattr(args, "workers", 1) or 1) == 1 and not getattr(args, "ray", None):
            # Rendering in this process: importing bpy installs Blender's own handlers, which drop
            # SIGTERM. Hold the signals while it loads, put ours back, then take any that came.
            stop = {signal.SIGTERM, signal.SIGINT}
            signal.pthread_sigmask(signal.SIG_BLOCK, stop)
            try:
                import bpy  # noqa: F401
                _track_blender_renders()
            except ImportError:
                pass
            finally:
                _install_stop_handlers()
                signal.pthread_sigmask(signal.SIG_UNBLOCK, stop)
        return _render(args, cfg, out)
    except (Interrupted, KeyboardInterrupt) as e:
        signum = e.signum if isinstance(e, Interrupted) else signal.SIGINT
        for sig, h in handlers.items():  # a second signal does not interrupt the clean-up
            signal.signal(sig, signal.SIG_IGN)
        try:
            writers.write_manifests(out)  # keep what was committed visible
        except (writers.DatasetError, OSError):
            pass
        return _fail(f"interrupted by {signal.Signals(signum).name}: workers stopped, {out}/frames.csv lists "
                     f"the clips completed; rerun the same command to resume", code=128 + int(signum))
    finally:
        lock.release()
        for sig, h in handlers.items():
            if h is not None:  # None: a handler set from C (Blender's), which Python cannot put back
                signal.signal(sig, h)


def _render(args, cfg, out: str) -> int:
    n_clips = int(cfg.n_clips)  # --clips N sets it
    workers = int(getattr(args, "workers", 1) or 1)
    video = bool(cfg.output.video)  # --video sets it
    versions = _versions()
    try:
        if video:
            writers.find_ffmpeg()
        indices = pool.shard_indices(n_clips, getattr(args, "shard", None))
        if getattr(args, "ray", None):
            pool.connect_ray(args.ray)  # no cluster to join: say so before writing anything
        record = writers.write_dataset_config(out, cfg.to_dict(), seed=int(cfg.seed), versions=versions)
        _check_blender(record, versions, os.path.join(out, writers.CONFIG_FILE),
                       allow=bool(getattr(args, "allow_other_blender", False)))
        _check_clip_spec(record, versions, os.path.join(out, writers.CONFIG_FILE))
    except (writers.DatasetError, pool.PoolError) as e:
        return _fail(str(e))

    from generator.sampling import clip_id_for
    clip_ids = {i: clip_id_for(cfg, i) for i in indices}
    try:
        done = writers.completed_clip_ids(out)
        todo = [i for i in indices if clip_ids[i] not in done]
        removed = writers.clean_partial_clips(out, [clip_ids[i] for i in todo])
    except OSError as e:
        return _fail(str(writers.os_error(out, e, "cannot clean up")))
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
            result = pool.run_on_ray(out, record["config"], todo, clip_ids, progress,
                                     address=args.ray,
                                     # --workers N: N actors; left at 1: one per cluster CPU
                                     n_workers=workers if workers > 1 else None)
        elif workers == 1:
            from generator.worker import ClipWorker
            try:
                # the cores this process may run on: Blender's AUTO counts every online CPU,
                # even under taskset or a container's cpuset
                renderer = ClipWorker(out, cfg, threads=pool.render_threads(1))
            except Exception as e:  # missing asset, broken Blender: nothing rendered, say why
                raise pool.PoolError(f"cannot build the scene: {type(e).__name__}: {e}") from e
            result = pool.run_in_process(renderer, todo, clip_ids, progress)
        else:
            result = pool.LocalPool(out, workers).run(todo, clip_ids, progress)
    except pool.PoolError as e:
        progress.close()
        try:
            writers.write_manifests(out)  # keep what was committed visible
        except writers.DatasetError:
            pass
        return _fail(f"{e} Rerun the same command to resume.", code=1)
    finally:
        progress.close()
    # Merge everything committed so far (other shards in this directory included).
    try:
        n_frames, n_rows = writers.write_manifests(out)
    except writers.DatasetError as e:  # ENOSPC, a corrupt rows file: named, old manifests kept
        return _fail(str(e))
    wall = time.time() - t0
    print(f"generator.render: rendered {len(result.done)} clips in {wall:.1f} s with "
          f"{result.workers_started} worker(s); {out}/frames.csv has {n_frames} frames of {n_rows} clips",
          file=sys.stderr, flush=True)
    if result.failed:
        ids = ", ".join(clip_ids[i] for i in sorted(result.failed))
        return _fail(f"{len(result.failed)} clips failed: {ids}. Rerun the same command to retry them "
                     f"(worker logs in {os.path.join(out, pool.LOG_DIR)}).", code=1)
    return 0


def _check_clip_spec(record: dict, versions: dict, path: str) -> None:
    """Refuse to extend a dataset whose clips follow another clip contract (SPEC_VERSION): the same
    config and seed would draw faces that look different (e.g. the iris size of version 2), so one
    dataset would hold two generators' data under one config. Datasets recorded before the version
    was kept are version 1."""
    recorded = (record.get("versions") or {}).get("clip_spec", 1)
    current = versions["clip_spec"]
    if recorded != current:
        raise writers.DatasetError(
            f"{path}: this dataset's clips follow clip spec version {recorded}, this code writes version "
            f"{current} (the sampled faces changed); render into a new --out (manifests merge can join them)")


def _check_blender(record: dict, versions: dict, path: str, allow: bool) -> None:
    """Refuse to extend a dataset with another Blender than the one config.json records: render
    engines change between versions (3.4 has no denoiser, 4.x changed the Principled BSDF), so
    the clips would silently come from two pixel distributions. ``--allow-other-blender`` goes
    on anyway (each clip's ``blender_version`` column says which rendered it)."""
    recorded = (record.get("versions") or {}).get("blender")
    current = versions.get("blender")
    if not recorded or not current or recorded == current:
        return
    msg = (f"{path}: this dataset was rendered with Blender {recorded!r}, "
           f"this run has {current!r}")
    if not allow:
        raise writers.DatasetError(f"{msg}; mixing renderers in one dataset changes its pixels: render "
                                   f"into a new --out, or pass --allow-other-blender")
    print(f"generator.render: warning: {msg}; going on (--allow-other-blender); clips.csv's "
          f"blender_version column says which Blender rendered each clip", file=sys.stderr, flush=True)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    if "bpy" in sys.modules:
        # Leave without Blender's/bpy's teardown (slow, and it may print or crash at exit).
        os._exit(code)
    sys.exit(code)
