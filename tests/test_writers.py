"""Write faults (no Blender): a frame cut short by a full disk, a write failing with ENOSPC, and
the one atomic-write implementation (fsync, the umask's file mode, old file kept on error)."""
import errno
import os
import stat
import zlib
from pathlib import Path

import pytest

from generator import writers
from manifests import atomic
from test_render_cli import _fake_clip, png_bytes


def _committed(out, clip_id):
    return clip_id in writers.completed_clip_ids(str(out)) or (out / "frames" / clip_id).exists()


def _cut(data):
    return data[:len(data) // 2]


def _flip_idat_byte(data):
    i = data.index(b"IDAT") + 6
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]


def _bad_zlib_with_good_crc(data):
    """Garbage image data under a correct CRC: only inflating the stream finds it."""
    import struct
    i = data.index(b"IDAT") - 4
    n = struct.unpack(">I", data[i:i + 4])[0]
    body = zlib.compress(b"\x00" * 5)  # inflates to the wrong size
    new = struct.pack(">I", len(body)) + b"IDAT" + body + struct.pack(">I", zlib.crc32(b"IDAT" + body))
    return data[:i] + new + data[i + 12 + n:]


@pytest.mark.parametrize("damage, why", [
    (lambda d: b"", "0 bytes"),                      # what a full disk left in the reported run
    (_cut, "cut short"),
    (lambda d: d[:-12], "no IEND"),
    (_flip_idat_byte, "CRC mismatch"),
    (_bad_zlib_with_good_crc, "expected"),
    (lambda d: b"GIF89a" + d[6:], "not a PNG"),
])
def test_commit_refuses_a_broken_frame_and_names_it(tmp_path, damage, why):
    w, rows, clip = _fake_clip(tmp_path, "c")
    bad = os.path.join(w.frame_dir, "0001.png")
    with open(bad, "rb") as f:
        data = f.read()
    with open(bad, "wb") as f:
        f.write(damage(data))
    with pytest.raises(writers.DatasetError, match=why) as e:
        w.commit(rows, clip, fps=30.0)
    assert "0001.png" in str(e.value) and "\n" not in str(e.value)
    assert not _committed(tmp_path, "c")  # a rerun renders it again
    assert writers.clean_partial_clips(str(tmp_path), ["c"])  # its debris is found and removed


def test_committed_frames_lose_blenders_text_chunks_and_keep_their_pixels(tmp_path):
    w, rows, clip = _fake_clip(tmp_path, "c")
    w.commit(rows, clip, fps=30.0)
    for t in range(3):
        data = (tmp_path / "frames" / "c" / f"{t:04d}.png").read_bytes()
        assert data == png_bytes(value=t, text=None)  # same image, no Date chunk: renders compare by bytes


@pytest.mark.parametrize("failing", ["frame", "rows"])
def test_enospc_while_committing_fails_the_clip_with_one_line(tmp_path, monkeypatch, failing):
    w, rows, clip = _fake_clip(tmp_path, "c")
    real_fsync = os.fsync

    def fsync(fd):
        name = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else ""
        if (failing == "frame" and name.endswith(".png")) or (failing == "rows" and "rows" in name):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(writers.DiskFullError, match="No space left on device") as e:
        w.commit(rows, clip, fps=30.0)
    assert "\n" not in str(e.value) and tmp_path.name in str(e.value)
    assert clip["subject_id"] and writers.completed_clip_ids(str(tmp_path)) == set()


def test_enospc_while_writing_manifests_keeps_the_old_ones(tmp_path, monkeypatch):
    w, rows, clip = _fake_clip(tmp_path, "a")
    w.commit(rows, clip, fps=30.0)
    writers.write_manifests(str(tmp_path))
    before = (tmp_path / "frames.csv").read_bytes()
    w, rows, clip = _fake_clip(tmp_path, "b")
    w.commit(rows, clip, fps=30.0)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(writers.DiskFullError, match="No space left"):
        writers.write_manifests(str(tmp_path))
    assert (tmp_path / "frames.csv").read_bytes() == before
    assert not [n for n in os.listdir(tmp_path) if "tmp" in n]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_atomic_write_gives_the_umask_mode_not_mkstemps_0600(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic.write_text(tmp_path / "a.csv", "x\n")
        with atomic.atomic_path(tmp_path / "b.png", suffix=".png") as tmp:
            with open(tmp, "wb") as f:
                f.write(b"1")
    finally:
        os.umask(old)
    for name in ("a.csv", "b.png"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == mode


def test_atomic_write_error_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "f.txt"
    atomic.write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("writer died")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]


def test_atomic_dir_appears_whole_with_the_umask_mode_or_not_at_all(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic.atomic_dir(tmp_path / "d") as tmp:
            (Path(tmp) / "a").write_text("1")
            assert not (tmp_path / "d").exists()  # nothing visible until the block ends
    finally:
        os.umask(old)
    assert (tmp_path / "d" / "a").read_text() == "1"
    assert stat.S_IMODE(os.stat(tmp_path / "d").st_mode) == 0o750  # not mkdtemp's 0700
    (tmp_path / "empty").mkdir()
    with atomic.atomic_dir(tmp_path / "empty") as tmp:  # an empty directory is replaced
        (Path(tmp) / "b").write_text("2")
    assert (tmp_path / "empty" / "b").read_text() == "2"
    with pytest.raises(OSError):  # a non-empty one is not
        with atomic.atomic_dir(tmp_path / "d"):
            pass
    with pytest.raises(RuntimeError):
        with atomic.atomic_dir(tmp_path / "e") as tmp:
            (Path(tmp) / "c").write_text("half")
            raise RuntimeError("writer died")
    assert sorted(os.listdir(tmp_path)) == ["d", "empty"] and (tmp_path / "d" / "a").read_text() == "1"
