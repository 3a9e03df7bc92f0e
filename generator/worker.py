"""One render worker: builds the scene ONCE, then renders many clips.

Used three ways, all through ``ClipWorker``:
- in-process by ``render.py`` (``--workers 1``);
- as a child process of ``pool.py``, speaking a line protocol:
    python -m generator.worker --dataset DIR            (bpy wheel)
    blender --background --python generator/worker.py -- --dataset DIR   (user's Blender)
  stdin:  one clip index per line; EOF or "stop" ends the worker.
  stdout: one JSON object per line: {"event": "ready"}, then per clip
          {"event": "done", "index", "clip_id", "seconds", "render_seconds", "rss_mb"} or
          {"event": "error", "index", "clip_id", "error"}.
  Everything else Blender prints goes to stderr (the pool keeps it in a log file), so the
  protocol channel carries nothing but protocol.
- as a Ray actor (``pool.RayClipActor`` wraps a ClipWorker).

The worker reads the config from DATASET/config.json, the record the coordinator
wrote, so every worker renders exactly the recorded config.
Standard library, numpy and bpy only.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback

if __name__ == "__main__" and __package__ in (None, ""):
    # Run as a script by Blender: put the repo root on sys.path.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from generator import writers  # noqa: E402


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc; ru_maxrss elsewhere, which is the peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def blender_version(bpy) -> str:
    """The Blender that renders, as recorded per clip and in config.json: "3.4.1" for a Blender
    binary, "bpy 5.0.1" for the bpy wheel (same numbers, separately built)."""
    return bpy.app.version_string if getattr(bpy.app, "binary_path", "") else f"bpy {bpy.app.version_string}"


class _RenderTimer:
    """Time spent inside Blender's render call, via bpy.app.handlers.render_pre/post.

    Lets the bench split wall time into "Blender rendering" and "everything else"
    without reaching into scene.py.
    """

    def __init__(self):
        import bpy
        self.total = 0.0
        self.calls = 0
        self._start = None
        # persistent: survive any file load the scene does (plain functions: the decorator
        # sets an attribute, which bound methods refuse)
        pre = bpy.app.handlers.persistent(lambda *a: self._pre())
        post = bpy.app.handlers.persistent(lambda *a: self._post())
        bpy.app.handlers.render_pre.append(pre)
        bpy.app.handlers.render_post.append(post)

    def _pre(self, *_):
        self._start = time.perf_counter()

    def _post(self, *_):
        if self._start is not None:
            self.total += time.perf_counter() - self._start
            self.calls += 1
            self._start = None


def _set_render_threads(face_scene, threads: int | None) -> None:
    """Fix the render threads of this process (None: Blender's default, all cores).

    Blender renders with every core by default, so N workers on C cores would each start C
    threads and fight over the cores; the pool gives each worker C // N instead.
    """
    render = getattr(getattr(face_scene, "scene", None), "render", None)
    if threads and render is not None and hasattr(render, "threads_mode"):
        render.threads_mode = "FIXED"
        render.threads = int(threads)


def _keep_render_data(face_scene) -> None:
    """Keep Cycles' render data (shaders, textures, BVH of unchanged objects) between renders.

    One process renders thousands of frames of one scene; without this, every frame pays
    the full scene sync again. Measured on the real scene (64x64, 2 samples, 5-frame clips,
    bpy 5.0.1): 7.0-8.7 s/frame without, 1.9-2.2 s/frame with, and pixel-identical frames
    (mean abs diff 0.0, closed-eye frame included) because geometry edits still re-sync.
    Between clips it is dropped (``FaceScene.reset_render_state``): material, world and light
    changes of a new clip were not all re-synced, so pixels depended on the clips before.
    """
    bpy_scene = getattr(face_scene, "scene", None)
    render = getattr(bpy_scene, "render", None)
    if render is not None and hasattr(render, "use_persistent_data"):
        render.use_persistent_data = True


class ClipWorker:
    """Holds one built FaceScene and renders clips by index into a dataset directory."""

    def __init__(self, out: str, config=None, threads: int | None = None):
        from generator.config import GeneratorConfig
        from generator.sampling import sample_clip
        from generator.scene import FaceScene

        self.out = out
        if config is None:
            config = GeneratorConfig.from_dict(writers.read_dataset_config(out)["config"])
        self.cfg = config
        self._sample_clip = sample_clip
        self.ffmpeg = writers.find_ffmpeg() if config.output.video else None
        t0 = time.perf_counter()
        self.scene = FaceScene(config)
        import bpy
        self.blender_version = blender_version(bpy)
        _keep_render_data(self.scene)
        _set_render_threads(self.scene, threads)
        self.build_seconds = time.perf_counter() - t0
        try:
            self._timer = _RenderTimer()
        except Exception:  # no render handlers (should not happen): timing only
            self._timer = None

    def clip_id(self, index: int) -> str:
        return self._sample_clip(self.cfg, index).clip_id

    def render(self, index: int) -> dict:
        """Render clip ``index`` and commit it. Returns timing and memory for the pool/bench."""
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        render0 = self._timer.total if self._timer else 0.0
        spec = self._sample_clip(self.cfg, index)
        t_sampled = time.perf_counter()
        w = writers.ClipWriter(self.out, spec.clip_id, ffmpeg=self.ffmpeg,
                               keep_frames=bool(self.cfg.output.png))
        try:
            rows = self.scene.render_clip(spec, w.frame_dir)
            t_rendered = time.perf_counter()
            clip_row = spec.to_row()
            clip_row["blender_version"] = self.blender_version  # which Blender drew these pixels
            w.commit(rows, clip_row, fps=spec.fps)
        except OSError as e:  # e.g. Blender could not create a frame file: one line naming it
            w.abort()
            raise writers.os_error(w.frame_dir, e, "cannot write frame") from e
        except BaseException:
            w.abort()
            raise
        t1 = time.perf_counter()
        # The scene's own per-frame split (pose+labels / render call / PNG save).
        split = {}
        for row in self.scene.last_timings:
            for k in ("update_s", "render_s", "write_s"):
                split[f"frame_{k}"] = split.get(f"frame_{k}", 0.0) + float(row.get(k, 0.0))
        return {**split, "index": index, "clip_id": spec.clip_id, "frames": len(rows),
                "finished_at": time.time(), "cpu_seconds": time.process_time() - cpu0,
                "seconds": t1 - t0, "sample_seconds": t_sampled - t0,
                "scene_seconds": t_rendered - t_sampled, "write_seconds": t1 - t_rendered,
                "render_seconds": (self._timer.total - render0) if self._timer else None,
                "rss_mb": rss_mb()}


def _parse(argv):
    import argparse
    p = argparse.ArgumentParser(prog="generator.worker", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, help="dataset directory with config.json")
    p.add_argument("--threads", type=int, default=None, help="render threads (default: all cores)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
        if "--" in argv:  # blender --background --python worker.py -- ARGS
            argv = argv[argv.index("--") + 1:]
        elif "--python" in argv or "-P" in argv:
            argv = []
    args = _parse(argv)
    # The protocol gets its own copy of stdout; fd 1 then points at stderr so that
    # Blender's (C-level) render chatter cannot corrupt the protocol.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout.flush()
    os.dup2(2, 1)

    def send(**msg):
        proto.write(json.dumps(msg) + "\n")
        proto.flush()

    renderer = ClipWorker(args.dataset, threads=args.threads)
    send(event="ready", pid=os.getpid(), build_seconds=renderer.build_seconds, rss_mb=rss_mb())
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        if line == "stop":
            break
        index = int(line)
        try:
            send(event="done", **renderer.render(index))
        except Exception as e:
            clip_id = None
            try:
                clip_id = renderer.clip_id(index)
            except Exception:
                pass
            err = traceback.format_exc()
            print(err, file=sys.stderr, flush=True)
            # A write error is said in one line naming the file; anything else with its traceback.
            send(event="error", index=index, clip_id=clip_id,
                 error=str(e) if isinstance(e, writers.DatasetError) else err[-2000:],
                 disk_full=isinstance(e, writers.DiskFullError))
    proto.close()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Blender's --python keeps running after the script unless told to quit.
    os._exit(code)
