"""`python -m manifests ...`: exit codes and the `file:line: column: message` output."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from manifests.__main__ import main

REPO = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, "-m", "manifests", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True)


def test_validate_exit_codes_and_output_format(tiny_dataset):
    ok = run("validate", tiny_dataset)
    assert ok.returncode == 0 and "valid" in ok.stdout
    df = pd.read_csv(tiny_dataset / "frames.csv", dtype=str, keep_default_na=False)
    df.loc[3, "left_closure"] = "1.5"
    df.loc[9, "right_phase"] = "shut"
    df.to_csv(tiny_dataset / "frames.csv", index=False)
    bad = run("validate", tiny_dataset)
    assert bad.returncode == 1
    assert bad.stdout.splitlines() == [
        f"{tiny_dataset}/frames.csv:5: left_closure: 1.5 is not in [0, 1]",
        f"{tiny_dataset}/frames.csv:11: right_phase: 'shut' is not a phase (open, closing, closed, opening)",
    ]
    assert "INVALID: 2 problem(s)" in bad.stderr


def test_validate_limit_and_features(tiny_dataset, capsys):
    df = pd.read_csv(tiny_dataset / "frames.csv", dtype=str, keep_default_na=False)
    df["head_yaw"] = ""
    df.to_csv(tiny_dataset / "frames.csv", index=False)
    assert main(["validate", str(tiny_dataset)]) == 0
    capsys.readouterr()
    assert main(["validate", str(tiny_dataset), "--features", "head_pose", "--limit", "3"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and out[-1] == "... and 49 more problems (--limit 0 shows all)"
    assert out[0].endswith("frames.csv:2: head_yaw: empty value; feature 'head_pose' needs it")


def test_missing_directory_and_bad_usage(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope")]) == 1
    assert "dataset directory not found" in capsys.readouterr().out
    assert main(["stats", str(tmp_path / "nope")]) == 2  # bad input: one line, status 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path / 'nope'}: dataset directory not found\n"
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["validate", str(tmp_path), "--features"])
    assert e.value.code == 2


def test_stats_json_and_text(tiny_dataset, capsys):
    assert main(["stats", str(tiny_dataset), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["clips"], s["frames"], s["subjects"]) == (4, 52, 2)
    assert s["blink_ratio"] == 0.5 and s["cut_event_clips"] == 0
    for eye in ("left", "right"):
        e = s["eyes"][eye]
        assert e["blink_events"] == 2 and sum(e["closure_histogram"]) == 52
        assert sum(e["phases"].values()) == 52 and e["phases"]["unknown"] == 0
        assert e["phases"]["closing"] > 0 and e["phases"]["opening"] > 0
    assert main(["stats", str(tiny_dataset)]) == 0
    text = capsys.readouterr().out
    assert "clips 4   frames 52   subjects 2" in text and "left eye: 2 blink events" in text


def test_split_merge_adapt_commands(tiny_dataset, tmp_path, capsys):
    assert main(["split", str(tiny_dataset), "--ratios", "0.5", "0.5", "0"]) == 0
    assert "train: 2 clips, 1 subjects" in capsys.readouterr().out
    assert main(["merge", str(tmp_path / "merged"), str(tiny_dataset)]) == 0
    assert main(["validate", str(tmp_path / "merged")]) == 0
    assert main(["split", str(tiny_dataset), "--ratios", "1", "-1", "0"]) == 2
    assert "ratios must be finite and non-negative" in capsys.readouterr().err
    assert main(["adapt", "hust-lebw", str(tmp_path / "no_such"), str(tmp_path / "h")]) == 2
    assert "no_such: source folder not found" in capsys.readouterr().err


@pytest.mark.parametrize("ratios", [("inf", "0", "0"), ("nan", "1", "1"), ("0", "0", "0"), ("1", "-1", "0")])
def test_split_refuses_impossible_ratios_and_leaves_the_dataset_alone(tiny_dataset, ratios):
    before = (tiny_dataset / "frames.csv").read_bytes()
    r = run("split", tiny_dataset, "--ratios", *ratios)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ratios must be finite and non-negative with a positive sum")
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr
    assert (tiny_dataset / "frames.csv").read_bytes() == before


def test_bad_input_is_one_line_with_status_2_for_every_command(tiny_dataset, tmp_path):
    (tiny_dataset / "frames.csv").write_bytes(b"clip_id,frame\n\xff\xfe,0\n")
    cases = [("stats", tiny_dataset), ("split", tiny_dataset),
             ("merge", tmp_path / "out", tiny_dataset), ("merge", tmp_path / "out", tmp_path / "none")]
    for args in cases:
        r = run(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("error: "), (args, r.stderr)
    assert not (tmp_path / "out").exists()
