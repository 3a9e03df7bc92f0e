"""merge(): union of shards; identical duplicates kept once; conflicts rejected naming both shards."""
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manifests import schema
from manifests.merge import MergeConflict, merge
from manifests.validate import validate


def _write_shard(root: Path, rows: list):
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["clip_id", "frame", "image", "left_closure"]).to_csv(root / "frames.csv", index=False)


# a pool of true rows keyed by (clip_id, frame); each shard holds a random subset of it
pools = st.dictionaries(
    keys=st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 5)),
    values=st.floats(0, 1, allow_nan=False).map(lambda x: round(x, 3)),
    min_size=1, max_size=15)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool=pools, data=st.data())
def test_merge_keeps_every_row_once(pool, data):
    keys = sorted(pool)
    n_shards = data.draw(st.integers(1, 4))
    subsets = [data.draw(st.lists(st.sampled_from(keys), unique=True)) for _ in range(n_shards)]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        shards = []
        for k, subset in enumerate(subsets):
            rows = [(c, f, f"frames/{c}/{f:04d}.png", pool[(c, f)]) for c, f in subset]
            _write_shard(out / f"shard_{k}", rows)
            shards.append(out / f"shard_{k}")
        merge(shards, out)
        got = pd.read_csv(out / "frames.csv", dtype={"clip_id": str})
        expected_keys = sorted({key for subset in subsets for key in subset})
        assert sorted(zip(got["clip_id"], got["frame"])) == expected_keys  # none lost, none twice
        for _, r in got.iterrows():
            assert r["left_closure"] == pool[(r["clip_id"], r["frame"])]
            first = next(k for k, s in enumerate(subsets) if (r["clip_id"], r["frame"]) in s)
            assert r["image"] == f"shard_{first}/frames/{r['clip_id']}/{r['frame']:04d}.png"


@settings(max_examples=25, deadline=None)
@given(pool=pools, data=st.data())
def test_conflicting_duplicate_is_rejected_naming_both_shards(pool, data):
    key = data.draw(st.sampled_from(sorted(pool)))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = [(c, f, f"frames/{c}/{f:04d}.png", v) for (c, f), v in pool.items()]
        _write_shard(tmp / "out" / "s1", rows)
        changed = [(c, f, img, (v + 0.5) % 1.0 if (c, f) == key else v) for c, f, img, v in rows]
        _write_shard(tmp / "out" / "s2", changed)
        with pytest.raises(MergeConflict) as err:
            merge([tmp / "out" / "s1", tmp / "out" / "s2"], tmp / "out")
        msg = str(err.value)
        assert str(tmp / "out" / "s1" / "frames.csv") in msg and str(tmp / "out" / "s2" / "frames.csv") in msg
        assert f"clip_id={key[0]}, frame={key[1]}" in msg and "left_closure" in msg
        assert not (tmp / "out" / "frames.csv").exists()  # nothing written


def _split_in_two(src: Path, a: Path, b: Path):
    """Two shard directories holding the first clip / the other clips of a dataset."""
    frames = pd.read_csv(src / "frames.csv", dtype=str, keep_default_na=False)
    clips = pd.read_csv(src / "clips.csv", dtype=str, keep_default_na=False)
    first = clips["clip_id"].iloc[0]
    for dst, pick in ((a, lambda s: s == first), (b, lambda s: s != first)):
        dst.mkdir(parents=True)
        f, c = frames[pick(frames["clip_id"])], clips[pick(clips["clip_id"])]
        f.to_csv(dst / "frames.csv", index=False)
        c.to_csv(dst / "clips.csv", index=False)
        for clip_id in c["clip_id"]:
            shutil.copytree(src / "frames" / clip_id, dst / "frames" / clip_id)


def test_merge_outside_shards_links_frames_and_validates(tiny_dataset, tmp_path):
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "merged"
    _split_in_two(tiny_dataset, a, b)
    merge([b, a, b], out)  # a shard given twice: all its rows are identical duplicates
    assert validate(out) == []
    merged = pd.read_csv(out / "frames.csv")
    original = pd.read_csv(tiny_dataset / "frames.csv")
    pd.testing.assert_frame_equal(merged, original)  # same rows, sorted by (clip_id, frame)
    img = merged["image"].iloc[0]
    assert os.path.samefile(out / img, a / img)  # hard link, not a copy


def test_merge_inside_shards_rebases_paths_without_copying(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    _split_in_two(tiny_dataset, out / "shard_0", out / "shard_1")
    merge([out / "shard_0", out / "shard_1"], out)
    assert validate(out) == []
    images = pd.read_csv(out / "frames.csv")["image"]
    assert images.str.match(r"^shard_[01]/frames/").all()
    assert not (out / "frames").exists()


def test_merge_conflicting_clips_rows_name_both_files(tiny_dataset, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(tiny_dataset, a)
    shutil.copytree(tiny_dataset, b)
    clips = pd.read_csv(b / "clips.csv", dtype=str, keep_default_na=False)
    clips.loc[2, "eye_half_width"] = "99"
    clips.to_csv(b / "clips.csv", index=False)
    with pytest.raises(MergeConflict, match=r"clip_id=0000_0000002.*a/clips.csv:4 and .*b/clips.csv:4.*eye_half_width"):
        merge([a, b], tmp_path / "out")
    assert not (tmp_path / "out" / "frames.csv").exists()


def test_merge_missing_shard_is_a_clear_error(tmp_path):
    from manifests.io import ManifestError

    with pytest.raises(ManifestError, match="nope: shard directory not found"):
        merge([tmp_path / "nope"], tmp_path / "out")


def test_merge_refuses_a_path_that_leaves_the_shard_through_a_symlink(tmp_path):
    """The reported attack: `x/../../../../../elsewhere/PWNED` with x a symlink deep inside the
    shard reads a file outside the shard and (lexically, in OUT) writes one outside OUT."""
    from manifests.io import ManifestError

    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "PWNED").write_text("secret")
    shard = tmp_path / "shard"
    deep = shard / "d1" / "d2" / "d3" / "d4"
    deep.mkdir(parents=True)
    os.symlink(deep, shard / "x")
    evil = "x/../../../../../elsewhere/PWNED"
    assert (shard / evil).is_file()  # the OS follows x, so the file is really reachable
    _write_shard(shard, [("a", 0, evil, 0.0)])
    out = tmp_path / "p" / "q" / "r" / "s" / "out"
    with pytest.raises(ManifestError, match=r"shard/frames.csv:2: image: .*contains '\.\.'"):
        merge([shard], out)
    assert not (tmp_path / "p" / "elsewhere").exists()  # where out/x/../../../../.. leads
    assert not out.exists()


def test_merge_refuses_a_symlink_leading_out_of_the_shard(tmp_path):
    from manifests.io import ManifestError

    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "f.png").write_bytes(b"x")
    shard = tmp_path / "shard"
    shard.mkdir()
    os.symlink(tmp_path / "elsewhere", shard / "frames")
    _write_shard(shard, [("a", 0, "frames/f.png", 0.0)])
    with pytest.raises(ManifestError, match=r"frames.csv:2: image: 'frames/f.png' leads outside"):
        merge([shard], tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_written_manifests_get_the_umask_mode_not_0600(tiny_dataset, tmp_path, umask):
    from manifests.split import split_dataset

    old = os.umask(umask)
    try:
        merge([tiny_dataset], tmp_path / "merged")
        split_dataset(tiny_dataset, (0.5, 0.5, 0))
    finally:
        os.umask(old)
    for f in (tmp_path / "merged" / "frames.csv", tmp_path / "merged" / "clips.csv",
              tiny_dataset / "frames.csv", tiny_dataset / "clips.csv"):
        assert f.stat().st_mode & 0o777 == 0o666 & ~umask, f
