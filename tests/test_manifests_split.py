"""split(): subject-disjoint, deterministic across runs and machines, ratios honoured, rows kept."""
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manifests import schema
from manifests.split import split, split_dataset, split_sizes
from manifests.validate import validate

REPO = Path(__file__).resolve().parents[1]


def _frames(clips_per_subject):
    rows = []
    for s, n in enumerate(clips_per_subject):
        for c in range(n):
            rows += [{"clip_id": f"s{s}c{c}", "frame": t, "subject_id": f"subj{s}"} for t in range(3)]
    return pd.DataFrame(rows)


subjects = st.lists(st.integers(1, 4), min_size=1, max_size=40)
ratio_sets = st.sampled_from([(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (1, 0, 0), (0.5, 0.5, 0), (1 / 3, 1 / 3, 1 / 3)])


@settings(max_examples=60, deadline=None)
@given(clips_per_subject=subjects, ratios=ratio_sets, seed=st.integers(0, 10))
def test_split_properties(clips_per_subject, ratios, seed):
    frames = _frames(clips_per_subject)
    out = split(frames, ratios, seed)
    # all rows kept, in order, untouched
    pd.testing.assert_frame_equal(out.drop(columns="split"), frames)
    assert out["split"].isin(schema.SPLITS).all()
    # no subject in two splits (and so no clip either)
    assert (out.groupby("subject_id")["split"].nunique() == 1).all()
    # deterministic
    pd.testing.assert_frame_equal(split(frames, ratios, seed), out)
    # ratios honoured on subjects: within one subject of n * ratio (plus one for the
    # at-least-one-subject-per-used-split rule)
    n = len(clips_per_subject)
    per_split = out.groupby("split")["subject_id"].nunique()
    for name, r in zip(schema.SPLITS, ratios):
        assert abs(per_split.get(name, 0) - n * r / sum(ratios)) <= 2
        if r == 0:
            assert per_split.get(name, 0) == 0
        elif n >= sum(x > 0 for x in ratios):
            assert per_split.get(name, 0) >= 1


def test_split_sizes_largest_remainder():
    assert split_sizes(10, (0.8, 0.1, 0.1)) == [8, 1, 1]
    assert split_sizes(2, (0.8, 0.1, 0.1)) == [1, 1, 0]
    assert split_sizes(100, (0.6, 0.2, 0.2)) == [60, 20, 20]
    with pytest.raises(ValueError, match="ratios"):
        split_sizes(3, (0.5, -0.5, 1))


def test_split_is_the_same_under_any_python_hash_seed():
    """hashlib, not hash(): a fresh interpreter with another PYTHONHASHSEED splits the same."""
    code = ("import pandas as pd; from manifests.split import split;"
            "f = pd.DataFrame({'clip_id': [f'c{i}' for i in range(50)],"
            " 'subject_id': [f's{i % 17}' for i in range(50)]});"
            "print(''.join(split(f, seed=3)['split'].str[0]))")
    outs = {subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(h)}).stdout for h in (1, 2)}
    assert len(outs) == 1
    assert len(outs.pop().strip()) == 50


def test_rows_without_subject_are_grouped_by_clip():
    frames = pd.DataFrame({"clip_id": ["a", "a", "b", "b", "c"], "subject_id": [None] * 5})
    out = split(frames, (0.5, 0.5, 0))
    assert (out.groupby("clip_id")["split"].nunique() == 1).all()
    assert set(out["split"]) == {"train", "val"}


def test_split_dataset_in_place_keeps_it_valid(tiny_dataset):
    before = pd.read_csv(tiny_dataset / "frames.csv")
    split_dataset(tiny_dataset, (0.5, 0.5, 0), seed=0)
    after = pd.read_csv(tiny_dataset / "frames.csv")
    pd.testing.assert_frame_equal(after.drop(columns="split"), before)
    clips = pd.read_csv(tiny_dataset / "clips.csv")
    assert set(clips["split"]) == {"train", "val"}
    assert validate(tiny_dataset) == []  # clips.csv split agrees with frames.csv
    assert not [p for p in os.listdir(tiny_dataset) if p.endswith(".tmp")]


def test_split_dataset_to_out_file_leaves_dataset_alone(tiny_dataset, tmp_path):
    before = (tiny_dataset / "frames.csv").read_bytes()
    split_dataset(tiny_dataset, out=tmp_path / "frames_split.csv")
    assert (tiny_dataset / "frames.csv").read_bytes() == before
    assert "split" in pd.read_csv(tmp_path / "frames_split.csv").columns
