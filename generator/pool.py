"""Running many clips: local worker processes (the default), Ray actors, shards.

Each worker holds ONE built scene and takes clip indices from a shared queue, so
start-up (Blender, the face mesh, materials) is paid once per worker, not per clip.

- ``LocalPool``: ``--workers N`` child processes started with the interpreter we run in
  (``python -m generator.worker`` for the bpy wheel, ``blender --background --python
  generator/worker.py`` inside the user's Blender), speaking the line protocol documented
  in worker.py. A worker that crashes is reported with its clip id and the tail of its
  log, and its clip is retried (at most ``max_attempts`` times) by a replacement worker.
- ``run_on_ray``: the same ClipWorker inside Ray actors, each with its own scene;
  idle actors pull the next clip index. It joins a running cluster and never starts one
  (a local Ray cluster listens on every network interface, without a way to bind it to
  127.0.0.1; see ``connect_ray``). The dataset directory must be on a filesystem
  every node sees, and every node needs the package installed (``pip install synblink[render,cluster]``).
- ``shard_indices``: ``--shard i/N`` keeps clip indices with ``index % N == i``.

Standard library only at import time (tqdm and ray are used when importable / asked for).
"""
from __future__ import annotations

import collections
import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER_SCRIPT = os.path.join(REPO_ROOT, "generator", "worker.py")
LOG_DIR = "logs"


class PoolError(Exception):
    """The pool cannot go on (workers keep dying before they are ready, bad shard...)."""


# Clips that failed for good one after another before the run stops: a deterministic error
# (broken asset, bad Blender) must not grind through a million clips.
MAX_FAILURES_IN_A_ROW = 5


def shard_indices(n_clips: int, shard: tuple[int, int] | None = None) -> list[int]:
    """Clip indices of shard (i, N) as ``args.parse_shard`` returns it from ``--shard i/N``; None: all."""
    i, n = shard or (0, 1)
    return list(range(i, n_clips, n))


# --------------------------------------------------------------------------- progress

class Progress:
    """ONE progress display for the whole dataset: tqdm if importable, else plain lines."""

    def __init__(self, total: int, initial: int = 0, desc: str = "clips", quiet: bool = False):
        self.total, self.n, self.quiet = total, initial, quiet
        self._bar = None
        self._t0 = time.time()
        if quiet:
            return
        try:
            from tqdm import tqdm
            self._bar = tqdm(total=total, initial=initial, desc=desc, unit="clip",
                             file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
        except ImportError:
            print(f"{desc}: {initial}/{total} already done", file=sys.stderr, flush=True)

    def update(self, info: str = "") -> None:
        self.n += 1
        if self._bar is not None:
            self._bar.update(1)
        elif not self.quiet:
            rate = (time.time() - self._t0) / 3600.0
            per_hour = f", {self.n / rate:.0f} clips/h" if rate > 0 else ""
            print(f"clips: {self.n}/{self.total} {info}{per_hour}", file=sys.stderr, flush=True)

    def write(self, msg: str) -> None:
        if self._bar is not None:
            self._bar.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@dataclass
class RunResult:
    done: list = field(default_factory=list)       # worker "done" messages (timings, rss)
    failed: dict = field(default_factory=dict)     # index -> error text
    ready: list = field(default_factory=list)      # worker "ready" messages (scene build time, rss)
    workers_started: int = 0


# --------------------------------------------------------------------------- local processes

def running_in_blender_binary() -> bool:
    """True inside ``blender --background --python``; False under the bpy wheel."""
    bpy = sys.modules.get("bpy")
    return bool(bpy is not None and getattr(bpy.app, "binary_path", ""))


def render_threads(n_workers: int) -> int:
    """Cores per worker: Blender would otherwise give every worker all cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, n_workers))


def worker_command(dataset: str, threads: int | None = None) -> list[str]:
    """The command that starts one worker with the same Blender we run in."""
    tail = ["--dataset", os.path.abspath(dataset)] + (["--threads", str(threads)] if threads else [])
    if running_in_blender_binary():
        import bpy
        # --factory-startup: the user's startup file and add-ons must not change the render.
        # --python-exit-code: a Python error must not look like a clean exit (Blender's default 0).
        return [bpy.app.binary_path, "--background", "--factory-startup", "--python-exit-code", "1",
                "--python", WORKER_SCRIPT, "--"] + tail
    return [sys.executable, "-m", "generator.worker"] + tail


def _tail(path: str, n_bytes: int = 3000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - n_bytes))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"


class _Worker:
    def __init__(self, wid: int, cmd: list[str], log_path: str, events: queue.Queue):
        self.wid, self.log_path = wid, log_path
        self.current: int | None = None
        self.ready = False
        env = dict(os.environ)
        env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        env["SYNBLINK_WORKER_INDEX"] = str(wid)  # render.device=gpu|auto: worker wid takes GPU wid % count
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, cwd=REPO_ROOT, env=env, bufsize=0)
        self._reader = threading.Thread(target=self._read, args=(events,), daemon=True)
        self._reader.start()

    def _read(self, events: queue.Queue) -> None:
        for raw in self.proc.stdout:
            try:
                msg = json.loads(raw.decode("utf-8", "replace"))
            except ValueError:
                continue  # not protocol (should not happen: worker moves fd 1 to stderr)
            events.put((self.wid, msg))
        events.put((self.wid, None))  # EOF: the worker exited

    def send(self, line: str) -> bool:
        try:
            self.proc.stdin.write((line + "\n").encode())
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


class LocalPool:
    """``n_workers`` worker processes pulling clip indices from one queue."""

    def __init__(self, dataset: str, n_workers: int, max_attempts: int = 3,
                 max_startup_failures: int = 3):
        self.dataset, self.n_workers = dataset, max(1, int(n_workers))
        self.max_attempts, self.max_startup_failures = max_attempts, max_startup_failures
        self.command = worker_command(dataset, render_threads(self.n_workers))
        self.log_dir = os.path.join(dataset, LOG_DIR)

    def run(self, indices: list[int], clip_ids: dict[int, str], progress: Progress) -> RunResult:
        os.makedirs(self.log_dir, exist_ok=True)
        result = RunResult()
        pending = collections.deque(indices)
        attempts: collections.Counter = collections.Counter()
        events: queue.Queue = queue.Queue()
        workers: dict[int, _Worker] = {}
        startup_failures = 0
        failures_in_a_row = [0]

        def spawn():
            wid = result.workers_started
            result.workers_started += 1
            log = os.path.join(self.log_dir, f"worker-{os.getpid()}-{wid}.log")
            workers[wid] = _Worker(wid, self.command, log, events)

        def give(w: _Worker):
            if pending:
                w.current = pending.popleft()
                if not w.send(str(w.current)):
                    pass  # the EOF event will report the dead worker and requeue
            else:
                w.current = None
                w.stop()

        def fail(index: int, why: str):
            attempts[index] += 1
            cid = clip_ids.get(index, "?")
            if attempts[index] < self.max_attempts:
                progress.write(f"clip {cid} (index {index}) failed, retrying "
                               f"({attempts[index]}/{self.max_attempts}): {why}")
                pending.append(index)
            else:
                progress.write(f"clip {cid} (index {index}) FAILED after {attempts[index]} attempts: {why}")
                result.failed[index] = why
                failures_in_a_row[0] += 1
                if failures_in_a_row[0] >= MAX_FAILURES_IN_A_ROW:
                    raise PoolError(f"{failures_in_a_row[0]} clips in a row failed; stopping. Last error "
                                    f"(clip {cid}):\n{why}")

        try:
            for _ in range(min(self.n_workers, len(pending))):
                spawn()
            while workers:
                wid, msg = events.get()
                w = workers[wid]
                if msg is None:  # worker exited
                    rc = w.proc.wait()
                    w.log.close()
                    del workers[wid]
                    tail = _tail(w.log_path)
                    if w.current is not None:
                        fail(w.current, f"worker {wid} (pid {w.proc.pid}) died with exit code {rc} "
                                        f"while rendering it; log {w.log_path}, tail:\n{tail}")
                    elif not w.ready:
                        startup_failures += 1
                        progress.write(f"worker {wid} exited with code {rc} before it was ready; "
                                       f"log {w.log_path}, tail:\n{tail}")
                        if startup_failures >= self.max_startup_failures:
                            raise PoolError(f"{startup_failures} workers died at start-up; last log "
                                            f"{w.log_path}:\n{tail}")
                    if pending and len(workers) < self.n_workers:
                        spawn()  # the replacement
                    continue
                ev = msg.get("event")
                if ev == "ready":
                    w.ready = True
                    result.ready.append(msg)
                    startup_failures = 0
                    give(w)
                elif ev == "done":
                    result.done.append(msg)
                    failures_in_a_row[0] = 0
                    progress.update(msg.get("clip_id", ""))
                    give(w)
                elif ev == "error":
                    if msg.get("disk_full"):  # every other clip would fail the same way
                        raise PoolError(msg.get("error", "disk full"))
                    fail(msg.get("index", w.current), msg.get("error", "unknown error"))
                    give(w)
        finally:
            for w in list(workers.values()):
                w.kill()
        return result


def run_in_process(renderer, indices: list[int], clip_ids: dict[int, str], progress: Progress) -> RunResult:
    """``--workers 1``: the same ClipWorker, no child process."""
    import traceback

    from generator.writers import DatasetError, DiskFullError
    result = RunResult(workers_started=1)
    in_a_row = 0
    for index in indices:
        try:
            msg = renderer.render(index)
        except DiskFullError as e:  # every other clip would fail the same way
            raise PoolError(str(e)) from e
        except Exception as e:
            # A write error is said in one line naming the file; anything else with its traceback.
            why = str(e) if isinstance(e, DatasetError) else traceback.format_exc()
            progress.write(f"clip {clip_ids.get(index, '?')} (index {index}) FAILED: {why}")
            result.failed[index] = why
            in_a_row += 1
            if in_a_row >= MAX_FAILURES_IN_A_ROW:
                raise PoolError(f"{in_a_row} clips in a row failed; stopping. Last error:\n{why}")
            continue
        in_a_row = 0
        result.done.append(msg)
        progress.update(msg["clip_id"])
    return result


# --------------------------------------------------------------------------- Ray

class RayClipActor:
    """A Ray actor holding one built scene (made remote in ``run_on_ray``)."""

    def __init__(self, dataset: str, config: dict):
        from generator.config import GeneratorConfig
        from generator.worker import ClipWorker
        # one render thread per actor: the actor holds one Ray CPU
        self.renderer = ClipWorker(dataset, GeneratorConfig.from_dict(config), threads=1)

    def render(self, index: int) -> dict:
        return self.renderer.render(index)


NO_LOCAL_RAY = ("SynBlink does not start a local Ray cluster: Ray's servers (gcs_server, raylet, agents) "
                "listen on every network interface even with node_ip_address=127.0.0.1 (measured with "
                "Ray 2.60). On one machine use --workers N; for a cluster see the README (Rendering on a "
                "Ray cluster)")


def connect_ray(address: str | None = "auto"):
    """Join a running Ray cluster; never start one. ``auto`` (or ``local``): ``RAY_ADDRESS``, else
    a cluster started with ``ray start`` on this machine; anything else is passed to
    ``ray.init(address=...)``. Already initialised (a test, a notebook): used as is.
    Raises PoolError, saying why, when there is no cluster to join."""
    try:
        import ray
    except ImportError:
        raise PoolError("--ray needs Ray: pip install 'synblink[cluster]'") from None
    if ray.is_initialized():
        return ray
    if address in (None, "", "auto", "local"):
        address = os.environ.get("RAY_ADDRESS") or "auto"
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except ConnectionError as e:
        raise PoolError(f"--ray {address}: no Ray cluster to join ({str(e).splitlines()[0]}). "
                        f"{NO_LOCAL_RAY}") from None
    return ray


def run_on_ray(dataset: str, config: dict, indices: list[int], clip_ids: dict[int, str],
               progress: Progress, address: str = "auto", n_workers: int | None = None,
               max_attempts: int = 3) -> RunResult:
    """Render ``indices`` with Ray actors; idle actors pull the next index. The cluster is joined
    with ``connect_ray(address)``, which never starts one."""
    ray = connect_ray(address)
    if not n_workers:
        n_workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    n_workers = max(1, min(n_workers, len(indices)))
    result = RunResult()
    if not indices:
        return result
    # Actors re-import the package: on a local cluster from this checkout, on a remote one
    # from the installed package (PYTHONPATH entries that do not exist are ignored).
    env = {"env_vars": {"PYTHONPATH": REPO_ROOT}}
    Actor = ray.remote(num_cpus=1, max_restarts=max_attempts, max_task_retries=0)(RayClipActor)
    actors = [Actor.options(runtime_env=env).remote(os.path.abspath(dataset), config)
              for _ in range(n_workers)]
    result.workers_started = n_workers
    pending = collections.deque(indices)
    attempts: collections.Counter = collections.Counter()
    running = {}  # future -> (actor, index)

    def give(actor):
        if pending:
            index = pending.popleft()
            running[actor.render.remote(index)] = (actor, index)

    for a in actors:
        give(a)
    while running:
        ready, _ = ray.wait(list(running), num_returns=1)
        fut = ready[0]
        actor, index = running.pop(fut)
        try:
            msg = ray.get(fut)
        except Exception as e:  # task error or actor died (Ray restarts it: max_restarts)
            attempts[index] += 1
            cid = clip_ids.get(index, "?")
            if attempts[index] < max_attempts:
                progress.write(f"clip {cid} (index {index}) failed on Ray, retrying: {e}")
                pending.append(index)
            else:
                progress.write(f"clip {cid} (index {index}) FAILED on Ray: {e}")
                result.failed[index] = str(e)
        else:
            result.done.append(msg)
            progress.update(msg["clip_id"])
        give(actor)
    for a in actors:
        ray.kill(a)
    return result
