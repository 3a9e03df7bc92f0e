"""Render threads follow the cores this process may use (its affinity mask), on 1, 2 or 16 cores.

Blender's own AUTO thread count is every online CPU, even under `taskset` or a container's
cpuset (measured: 2 threads with `taskset -c 0` on a 2-core machine, Blender 3.4.1 and bpy
5.0.1), so the generator decides the count itself. The core counts are faked here: a test must
not depend on the machine it runs on.
"""
import os

import pytest

from generator import pool, render


@pytest.mark.parametrize("cores, workers, threads", [
    (1, 1, 1), (1, 2, 1),             # one core: never zero threads
    (2, 1, 2), (2, 2, 1), (2, 3, 1),
    (16, 1, 16), (16, 2, 8), (16, 3, 5), (16, 16, 1), (16, 32, 1),
])
def test_render_threads_split_the_allowed_cores_over_the_workers(monkeypatch, cores, workers, threads):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(os, "cpu_count", lambda: 64)  # the machine has more cores than we may use
    assert pool.render_threads(workers) == threads


def test_render_threads_without_an_affinity_call_use_the_cpu_count(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity")  # macOS, Windows
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert pool.render_threads(2) == 8
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one thread, not a crash
    assert pool.render_threads(2) == 1


def test_local_pool_workers_get_their_share(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    command = pool.LocalPool(str(tmp_path), 2).command
    assert command[command.index("--threads") + 1] == "8"


def test_in_process_render_uses_the_allowed_cores(monkeypatch, tmp_path):
    """--workers 1 renders in this process: its scene gets the affinity count, not Blender's AUTO."""
    import generator.worker

    seen = {}

    class StopAtSceneBuild:
        def __init__(self, out, config=None, threads=None):
            seen["threads"] = threads
            raise RuntimeError("stop before rendering")

    monkeypatch.setattr(generator.worker, "ClipWorker", StopAtSceneBuild)
    for cores in (1, 16):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
        code = render.main(["render", "--out", str(tmp_path / f"d{cores}"), "--clips", "1", "--workers", "1"])
        assert code == 1 and seen.pop("threads") == cores
