"""The process layer: kill-and-resume, a crashed worker's clip retried, Ray and shards
giving the same labels as the local pool, flat memory per worker. Real generator, tiny clips."""
import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from generator import pool, writers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--frames", "13", "--resolution", "64", "64", "--samples", "2", "--set", "render.denoise=false",
        "--seed", "7"]
N_CLIPS = "3"

pytestmark = pytest.mark.slow


def render_cmd(out, *extra):
    return [sys.executable, "-m", "generator.render", "--out", str(out), "--clips", N_CLIPS, *TINY, *extra]


def run_render(out, *extra, timeout=600):
    return subprocess.run(render_cmd(out, *extra), cwd=REPO, capture_output=True, text=True, timeout=timeout)


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def labels(out):
    """frames.csv without the columns that name files (identical by construction)."""
    return [{k: v for k, v in r.items() if k not in ("image", "video")} for r in read_rows(out / "frames.csv")]


def assert_valid(out):
    r = subprocess.run([sys.executable, "-m", "manifests", "validate", str(out)], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = read_rows(out / "frames.csv")
    keys = [(r["clip_id"], r["frame"]) for r in rows]
    assert len(keys) == len(set(keys)), "duplicated frame rows"
    assert len(read_rows(out / "clips.csv")) == int(N_CLIPS)
    assert all(os.path.isfile(out / r["image"]) for r in rows)


def children(pid):
    """Pids whose parent is ``pid`` (Linux /proc)."""
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(name))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def wait_mid_clip(out, proc, need_committed=0, timeout=300):
    """Block until a clip is being rendered (a temp frame dir holds a PNG) and
    ``need_committed`` clips are complete. Returns the pid of a worker rendering a clip
    (temp frame dirs are named <clip_id>.<host>.<pid>.frames)."""
    t0 = time.time()
    partial = out / writers.PARTIAL_DIR
    while time.time() - t0 < timeout:
        assert proc.poll() is None, "render finished before it could be interrupted"
        dirs = [partial / d for d in os.listdir(partial)] if partial.is_dir() else []
        busy = []
        for d in dirs:
            try:
                if d.name.endswith(".frames") and any(n.endswith(".png") for n in os.listdir(d)):
                    busy.append(int(d.name.split(".")[-2]))
            except (OSError, ValueError):
                pass  # committed (renamed) meanwhile
        if busy and len(writers.completed_clip_ids(str(out))) >= need_committed:
            return busy[0]
        time.sleep(0.05)
    raise AssertionError("no clip started rendering in time")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run with the local pool (2 workers)."""
    out = tmp_path_factory.mktemp("ref") / "ds"
    r = run_render(out, "--workers", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert_valid(out)
    return out


def test_kill_whole_process_group_mid_clip_then_resume(reference, tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.Popen(render_cmd(out, "--workers", "2"), cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_mid_clip(out, proc, need_committed=1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    committed = writers.completed_clip_ids(str(out))
    assert 1 <= len(committed) < int(N_CLIPS)
    r = run_render(out, "--workers", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"{len(committed)} already complete" in r.stderr
    assert_valid(out)
    assert labels(out) == labels(reference)
    assert not os.listdir(out / writers.PARTIAL_DIR)


def test_killed_worker_clip_is_retried_by_a_replacement(reference, tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.Popen(render_cmd(out, "--workers", "2"), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        victim = wait_mid_clip(out, proc)
        assert victim in children(proc.pid), "the rendering pid is not one of the pool's workers"
        os.kill(victim, signal.SIGKILL)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    # The failure is reported with the clip id and the worker's exit, then retried.
    assert "retrying" in err and "died with exit code -9" in err
    assert_valid(out)
    assert labels(out) == labels(reference)


def test_shards_merged_equal_unsharded(reference, tmp_path):
    out = tmp_path / "ds"
    for shard in ("1/2", "0/2"):
        r = run_render(out, "--shard", shard)
        assert r.returncode == 0, r.stderr[-3000:]
    assert_valid(out)
    assert labels(out) == labels(reference)


def test_ray_local_cluster_matches_local_pool(reference, tmp_path):
    ray = pytest.importorskip("ray")
    from generator import render
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "ds"
        code = render.main(["render", "--out", str(out), "--clips", N_CLIPS, *TINY, "--ray", "auto",
                            "--workers", "2"])
    finally:
        ray.shutdown()
    assert code == 0
    assert_valid(out)
    assert labels(out) == labels(reference)


def test_worker_memory_stays_flat(tmp_path):
    """RSS of one worker after clip 4 vs after clip 10: the scene is re-posed, not rebuilt or leaked.
    (bench/render_scale.py --only memory measures the long run, clip 50 -> 500.)"""
    out = tmp_path / "ds"
    r = run_render(out, "--clips", "0", "--frames", "2")  # writes config.json only
    assert r.returncode == 0, r.stderr[-3000:]
    ids = {i: f"clip{i}" for i in range(10)}
    result = pool.LocalPool(str(out), 1).run(list(range(10)), ids, pool.Progress(10, quiet=True))
    assert not result.failed
    rss = [m["rss_mb"] for m in result.done]
    # A leak shows as steady growth per clip; a few MB of warm-up (shader and image caches) do not
    # count. 1 MB/clip is 1 GB per thousand clips: a worker would not survive a long run.
    per_clip = (rss[-1] - rss[3]) / (len(rss) - 4)
    assert per_clip < 1.0, f"RSS grew {per_clip:.2f} MB per clip from clip 4 to 10: {rss}"


def test_a_clip_rendered_alone_gives_the_same_files_as_after_other_clips(reference, tmp_path):
    """Pixels do not depend on what the process rendered before, and identical renders are
    identical files (no date/render-time text chunks). In the reference, clip 2 was rendered by
    a worker that had rendered clip 0 or 1 first (2 workers, 1 thread each); here it is alone
    in a fresh process (in-process, all cores)."""
    out = tmp_path / "ds"
    r = run_render(out, "--shard", "2/3")
    assert r.returncode == 0, r.stderr[-3000:]
    (clip,) = read_rows(out / "clips.csv")
    for t in range(13):
        name = f"frames/{clip['clip_id']}/{t:04d}.png"
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert clip["blender_version"].startswith("bpy ")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is not rendering
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_one_writer_per_dataset_and_sigterm_stops_every_worker(reference, tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.Popen(render_cmd(out, "--workers", "2"), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_mid_clip(out, proc)
        workers = children(proc.pid)
        assert workers
        # A second identical command must not touch the live run's clip in progress.
        second = run_render(out, "--workers", "2")
        assert second.returncode == 2, second.stderr[-3000:]
        assert "cleaned" not in second.stderr
        msg = second.stderr.strip().splitlines()[-1]
        assert os.path.join(".locks", "all.json") in msg and f"pid {proc.pid}" in msg
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("generator.render: error: interrupted by SIGTERM")
    assert "Traceback" not in err
    assert not [pid for pid in workers if _alive(pid)], "workers outlived the render (orphans)"
    assert not os.listdir(out / writers.LOCK_DIR)
    r = run_render(out, "--workers", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert_valid(out)
    assert labels(out) == labels(reference)


def test_ctrl_c_stops_an_in_process_render_with_one_line(tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.Popen(render_cmd(out), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_mid_clip(out, proc)
        proc.send_signal(signal.SIGINT)  # lands inside Blender's render call most of the time
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted by SIGINT" in err.strip().splitlines()[-1] and "Traceback" not in err
    assert not os.listdir(out / writers.LOCK_DIR)
