"""The render entry point (bpy wheel): config checked before rendering, a valid dataset,
resume refuses another config, and the writers' crash-safety rules."""
import csv
import json
import os
import subprocess
import sys

import pytest

from generator import writers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Tiny but real: 13 frames (one HUST-LEBW sample), 64x64, few samples, no denoiser.
TINY = ["--frames", "13", "--resolution", "64", "64", "--samples", "2", "--set", "render.denoise=false"]


def run_render(out, *extra, timeout=600):
    cmd = [sys.executable, "-m", "generator.render", "--out", str(out), *TINY, *extra]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def validate(out):
    return subprocess.run([sys.executable, "-m", "manifests", "validate", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


# ----------------------------------------------------------------------------- entry point

def test_bad_config_value_exits_2_before_rendering(tmp_path):
    out = tmp_path / "ds"
    r = run_render(out, "--clips", "2", "--set", "clip.n_frames=0")
    assert r.returncode == 2, r.stderr
    assert "clip.n_frames" in r.stderr
    assert not (out / "config.json").exists() and not (out / "frames").exists()


@pytest.mark.slow
def test_wheel_entry_point_writes_valid_dataset_with_videos(tmp_path):
    out = tmp_path / "ds"
    r = run_render(out, "--clips", "2", "--seed", "3", "--video")
    assert r.returncode == 0, r.stderr[-3000:]
    frames = read_csv(out / "frames.csv")
    clips = read_csv(out / "clips.csv")
    assert len(clips) == 2 and len(frames) == 26
    assert [(f["clip_id"], int(f["frame"])) for f in frames] == sorted(
        (c["clip_id"], t) for c in clips for t in range(13))
    for f in frames:
        assert os.path.isfile(out / f["image"]) and os.path.isfile(out / f["video"])
        assert (int(f["width"]), int(f["height"])) == (64, 64)
    record = json.loads((out / "config.json").read_text())
    assert record["seed"] == 3 and record["config"]["clip"]["n_frames"] == 13 and "python" in record["versions"]
    v = validate(out)
    assert v.returncode == 0, v.stdout + v.stderr
    import imageio.v3 as iio
    video = iio.imread(out / frames[0]["video"])
    assert video.shape[0] == 13 and video.shape[1:3] == (64, 64)
    # Nothing temporary is left behind.
    assert not os.listdir(out / writers.PARTIAL_DIR)

    # Rerun, same command: nothing re-rendered, nothing duplicated.
    before = (out / "frames.csv").read_text()
    r = run_render(out, "--clips", "2", "--seed", "3", "--video")
    assert r.returncode == 0 and "2 already complete" in r.stderr
    assert (out / "frames.csv").read_text() == before

    # Another config into the same directory is refused, and the dataset is untouched.
    r = run_render(out, "--clips", "2", "--seed", "4", "--video")
    assert r.returncode == 2 and "seed" in r.stderr and "another config" in r.stderr
    assert (out / "frames.csv").read_text() == before
    assert json.loads((out / "config.json").read_text())["seed"] == 3


# ----------------------------------------------------------------------------- writers (no Blender)


def png_bytes(width=4, height=3, value=0, text=b"Date\x002026/01/01 00:00:00"):
    """A real RGB PNG (standard library), with a tEXt chunk like the ones Blender writes."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"".join(b"\x00" + bytes([value % 256]) * (3 * width) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + (chunk(b"tEXt", text) if text else b"") + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _fake_clip(out, clip_id, n=3):
    w = writers.ClipWriter(str(out), clip_id)
    for t in range(n):
        with open(os.path.join(w.frame_dir, f"{t:04d}.png"), "wb") as f:
            f.write(png_bytes(value=t))
    return w, [{"frame": t, "left_closure": t / n} for t in range(n)], {"subject_id": "s0", "fps": 30.0,
                                                                        "n_frames": n, "blink": 0}


def test_clip_is_visible_only_after_commit_and_rows_are_merged_sorted(tmp_path):
    w1, rows1, clip1 = _fake_clip(tmp_path, "b")
    assert writers.completed_clip_ids(str(tmp_path)) == set()
    assert not (tmp_path / "frames" / "b").exists()
    w1.commit(list(reversed(rows1)), clip1, fps=30.0)
    w0, rows0, clip0 = _fake_clip(tmp_path, "a")
    w0.commit(rows0, clip0, fps=30.0)
    assert writers.completed_clip_ids(str(tmp_path)) == {"a", "b"}
    n_frames, n_clips = writers.write_manifests(str(tmp_path))
    assert (n_frames, n_clips) == (6, 2)
    frames = read_csv(tmp_path / "frames.csv")
    assert [(f["clip_id"], f["frame"]) for f in frames] == [(c, str(t)) for c in "ab" for t in range(3)]
    assert frames[0]["image"] == "frames/a/0000.png" and frames[0]["subject_id"] == "s0"
    header = list(frames[0])
    assert header[:3] == ["clip_id", "frame", "image"]  # schema order first


def test_interrupted_clip_debris_is_cleaned_and_committed_clips_kept(tmp_path):
    done, rows, clip = _fake_clip(tmp_path, "done")
    done.commit(rows, clip, fps=30.0)
    # A crash after the frames rename but before the rows file: frames without rows.
    half, rows, clip = _fake_clip(tmp_path, "half")
    os.rename(half.frame_dir, tmp_path / "frames" / "half")
    started, _, _ = _fake_clip(tmp_path, "started")  # a crash mid-render: temp dir only
    removed = writers.clean_partial_clips(str(tmp_path), ["half", "started"])
    assert len(removed) == 2
    assert not (tmp_path / "frames" / "half").exists() and not os.path.exists(started.frame_dir)
    assert (tmp_path / "frames" / "done" / "0000.png").exists()
    assert writers.completed_clip_ids(str(tmp_path)) == {"done"}


def test_commit_refuses_missing_frames(tmp_path):
    w, rows, clip = _fake_clip(tmp_path, "c")
    os.remove(os.path.join(w.frame_dir, "0001.png"))
    with pytest.raises(writers.DatasetError, match="0001.png"):
        w.commit(rows, clip, fps=30.0)
    assert writers.completed_clip_ids(str(tmp_path)) == set()


def test_corrupt_rows_file_is_named(tmp_path):
    w, rows, clip = _fake_clip(tmp_path, "c")
    w.commit(rows, clip, fps=30.0)
    (tmp_path / "rows" / "c.json").write_text('{"clip": {"clip_id": "c"}, "fra')
    with pytest.raises(writers.DatasetError, match=r"rows/c\.json"):
        writers.write_manifests(str(tmp_path))


def test_dataset_config_mismatch_names_fields_and_n_clips_may_grow(tmp_path):
    cfg = {"seed": 0, "n_clips": 2, "clip": {"n_frames": 13, "fps": 30.0}}
    writers.write_dataset_config(str(tmp_path), cfg, seed=0)
    writers.write_dataset_config(str(tmp_path), {**cfg, "n_clips": 10}, seed=0)  # more clips: fine
    with pytest.raises(writers.DatasetError, match=r"clip\.fps"):
        writers.write_dataset_config(str(tmp_path), {**cfg, "clip": {"n_frames": 13, "fps": 25.0}}, seed=0)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(writers.DatasetError, match="config.json"):
        writers.write_dataset_config(str(tmp_path), cfg, seed=0)


def test_missing_ffmpeg_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(writers.DatasetError, match="ffmpeg"):
        writers.find_ffmpeg()


def test_manifests_keep_a_column_only_later_clips_have(tmp_path):
    wa, rows, clip = _fake_clip(tmp_path, "a")
    wa.commit(rows, clip, fps=30.0)
    wb, rows, clip = _fake_clip(tmp_path, "b")
    wb.commit([{**r, "extra_note": "x"} for r in rows], {**clip, "extra_clip": 1}, fps=30.0)
    assert writers.write_manifests(str(tmp_path)) == (6, 2)
    frames = read_csv(tmp_path / "frames.csv")
    assert [f["extra_note"] for f in frames] == [""] * 3 + ["x"] * 3
    assert [c["extra_clip"] for c in read_csv(tmp_path / "clips.csv")] == ["", "1"]
    assert not [n for n in os.listdir(tmp_path) if "tmp" in n]


# ----------------------------------------------------------------------------- faults (issue 8)

def _one_line_error(r):
    """The error: one line, the last one said, no traceback (progress lines may come before it)."""
    lines = r.stderr.strip().splitlines()
    errors = [ln for ln in lines if "error" in ln.lower()]
    assert errors == lines[-1:] and lines[-1].startswith("generator.render: error: "), r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    return lines[-1]


def test_out_that_is_a_file_or_under_a_file_is_one_line_rc2(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    for out in (f, f / "sub"):
        r = run_render(out, "--clips", "0")
        assert r.returncode == 2
        assert str(out) in _one_line_error(r)
    assert f.read_text() == "x"


def _write_lock(out, host, pid, name="all", shard=None):
    import json as _json
    (out / writers.LOCK_DIR).mkdir(parents=True, exist_ok=True)
    (out / writers.LOCK_DIR / f"{name}.json").write_text(
        _json.dumps({"host": host, "pid": pid, "shard": shard, "started": "2026-01-01 00:00:00"}))


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_live_lock_is_refused_naming_its_owner_and_a_stale_one_taken_over(tmp_path):
    import socket
    out = tmp_path / "ds"
    _write_lock(out, socket.gethostname(), os.getpid())  # this test process: alive
    r = run_render(out, "--clips", "0")
    assert r.returncode == 2
    line = _one_line_error(r)
    assert os.path.join(str(out), ".locks", "all.json") in line and f"pid {os.getpid()}" in line
    assert not (out / "config.json").exists()  # refused before touching the dataset

    _write_lock(out, "another-host", 1)  # cannot be checked from here: refused, host named
    r = run_render(out, "--clips", "0")
    assert r.returncode == 2 and "another-host" in _one_line_error(r)

    _write_lock(out, socket.gethostname(), _dead_pid())
    r = run_render(out, "--clips", "0")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "stale lock" in r.stderr
    assert os.listdir(out / writers.LOCK_DIR) == []  # released at the end


def test_shards_of_one_dataset_do_not_lock_each_other(tmp_path):
    out = tmp_path / "ds"
    import socket
    _write_lock(out, socket.gethostname(), os.getpid(), name="shard-1-of-2", shard=[1, 2])
    r = run_render(out, "--clips", "0", "--shard", "0/2")
    assert r.returncode == 0, r.stderr[-3000:]
    r = run_render(out, "--clips", "0", "--shard", "1/2")  # the same shard is live
    assert r.returncode == 2 and "shard-1-of-2" in _one_line_error(r)
    r = run_render(out, "--clips", "0")  # every clip overlaps a live shard
    assert r.returncode == 2


def test_corrupt_rows_file_is_one_line_rc2(tmp_path):
    out = tmp_path / "ds"
    assert run_render(out, "--clips", "0").returncode == 0
    w, rows, clip = _fake_clip(out, "c")
    w.commit(rows, clip, fps=30.0)
    (out / "rows" / "c.json").write_text('{"clip": {"clip_id": "c"}, "fra')
    r = run_render(out, "--clips", "0")
    assert r.returncode == 2 and os.path.join("rows", "c.json") in _one_line_error(r)


def test_enospc_while_writing_manifests_is_one_line_rc2(tmp_path, monkeypatch, capsys):
    import errno

    from generator import render
    from manifests import atomic
    out = tmp_path / "ds"
    assert run_render(out, "--clips", "0").returncode == 0
    before = (out / "frames.csv").read_bytes()
    w, rows, clip = _fake_clip(out, "c")
    w.commit(rows, clip, fps=30.0)

    def full(path):
        if str(path).endswith(".tmp") and ".frames.csv." in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(atomic, "fsync_file", full)
    code = render.main(["render", "--out", str(out), *TINY, "--clips", "0"])
    err = capsys.readouterr().err
    assert code == 2
    assert "frames.csv" in err and "No space left on device" in err and "Traceback" not in err
    assert (out / "frames.csv").read_bytes() == before


def test_extending_a_dataset_with_another_blender_is_refused_unless_allowed(tmp_path):
    out = tmp_path / "ds"
    assert run_render(out, "--clips", "0").returncode == 0
    record = json.loads((out / "config.json").read_text())
    assert record["versions"]["blender"].startswith("bpy ")
    record["versions"]["blender"] = "3.4.1"
    (out / "config.json").write_text(json.dumps(record))
    r = run_render(out, "--clips", "0")
    assert r.returncode == 2
    line = _one_line_error(r)
    assert "config.json" in line and "'3.4.1'" in line and record["versions"]["blender"] != line
    r = run_render(out, "--clips", "0", "--allow-other-blender")
    assert r.returncode == 0 and "warning" in r.stderr and "3.4.1" in r.stderr


def test_extending_a_dataset_of_another_clip_spec_is_refused(tmp_path):
    """A dataset rendered by code with another clip contract (older faces) is never extended by
    this code: the same config and seed would draw different-looking faces into it."""
    from generator.sampling.clip import SPEC_VERSION

    out = tmp_path / "ds"
    assert run_render(out, "--clips", "0").returncode == 0
    record = json.loads((out / "config.json").read_text())
    assert record["versions"]["clip_spec"] == SPEC_VERSION
    assert run_render(out, "--clips", "0").returncode == 0  # same code: resumes
    for old, recorded in (({**record["versions"], "clip_spec": SPEC_VERSION - 1}, SPEC_VERSION - 1),
                          ({k: v for k, v in record["versions"].items() if k != "clip_spec"}, 1)):  # before it was kept
        (out / "config.json").write_text(json.dumps({**record, "versions": old}))
        before = (out / "config.json").read_bytes()
        r = run_render(out, "--clips", "0")
        assert r.returncode == 2
        line = _one_line_error(r)
        assert "config.json" in line and f"version {recorded}," in line and f"version {SPEC_VERSION} " in line
        assert (out / "config.json").read_bytes() == before  # nothing rewritten


@pytest.mark.slow
def test_a_frame_broken_by_a_full_disk_fails_its_clip_and_a_rerun_renders_it(tmp_path, monkeypatch, capsys):
    """Blender's PNG save reports nothing on ENOSPC: a frame cut to 0 bytes after the save must
    fail the clip (named, one line, not committed), and the rerun must render it whole."""
    from generator import render, scene
    out = tmp_path / "ds"
    real = scene.FaceScene.render_frame_png
    broken = []

    def render_frame_png(self, path):
        result = real(self, path)
        if not broken and path.endswith("0001.png"):
            open(path, "wb").close()  # what the full disk left
            broken.append(path)
        return result
    monkeypatch.setattr(scene.FaceScene, "render_frame_png", render_frame_png)
    args = ["render", "--out", str(out), *TINY, "--frames", "3", "--clips", "2", "--seed", "5"]
    assert render.main(args) == 1
    err = capsys.readouterr().err
    assert "broken frame (0 bytes)" in err and "0001.png" in err and "Traceback" not in err
    assert len(writers.completed_clip_ids(str(out))) == 1
    monkeypatch.setattr(scene.FaceScene, "render_frame_png", real)
    assert render.main(args) == 0
    assert "1 already complete" in capsys.readouterr().err
    assert len(read_csv(out / "clips.csv")) == 2
    v = validate(out)
    assert v.returncode == 0, v.stdout + v.stderr


def test_ray_auto_joins_a_cluster_and_never_starts_one(tmp_path, monkeypatch, capsys):
    """A local Ray cluster listens on every network interface, unauthenticated in older Ray and
    not bindable to 127.0.0.1 (measured with Ray 2.60): --ray must only join a running one."""
    from generator import render
    calls = []

    class FakeRay:
        @staticmethod
        def is_initialized():
            return False

        @staticmethod
        def init(address=None, **kwargs):
            calls.append(address)
            raise ConnectionError("Could not find any running Ray instance.")
    monkeypatch.setitem(sys.modules, "ray", FakeRay)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    out = tmp_path / "ds"
    code = render.main(["render", "--out", str(out), *TINY, "--clips", "1", "--ray", "auto"])
    err = capsys.readouterr().err
    assert code == 2 and calls == ["auto"], err  # address=None would start a local cluster
    assert "--workers N" in err and "Traceback" not in err
    assert not (out / "config.json").exists()
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    assert render.main(["render", "--out", str(out), *TINY, "--clips", "1", "--ray", "auto"]) == 2
    assert calls == ["auto", "10.0.0.5:6379"]
