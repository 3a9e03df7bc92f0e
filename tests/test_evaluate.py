"""Metrics against hand-computed cases, and `python -m trainer.evaluate` end to end."""
from __future__ import annotations

import math

import numpy as np
import pytest

from trainer import metrics


def test_confusion_and_f1_hand_case():
    y = [1, 1, 0, 0, 1]
    s = [0.9, 0.4, 0.6, 0.1, 0.5]  # threshold 0.5: pred 1,0,1,0,1 -> tp 2, fp 1, fn 1, tn 1
    m = metrics.clip_metrics(y, s, threshold=0.5)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 1, 1, 1)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(3 / 5)


def test_no_positive_predictions_gives_zero_f1_not_nan():
    m = metrics.clip_metrics([1, 0], [0.1, 0.2])
    assert m["f1"] == 0.0 and m["precision"] == 0.0 and m["recall"] == 0.0


def test_auroc_hand_cases():
    # positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered right
    assert metrics.auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert metrics.auroc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)  # a tie counts one half
    assert metrics.auroc([0, 0, 1], [0.1, 0.2, 0.9]) == 1.0
    assert metrics.auroc([1, 1, 0], [0.1, 0.2, 0.9]) == 0.0
    assert math.isnan(metrics.auroc([1, 1], [0.1, 0.2]))


def test_auroc_matches_pairwise_definition_on_random_scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200), 1)  # many ties
    pos, neg = s[y == 1], s[y == 0]
    pairwise = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg))
    assert metrics.auroc(y, s) == pytest.approx(pairwise)


def test_average_precision_and_pr_curve_hand_case():
    precision, recall, thr = metrics.pr_curve([1, 0, 1], [0.9, 0.8, 0.7])
    np.testing.assert_allclose(precision, [1.0, 0.5, 2 / 3])
    np.testing.assert_allclose(recall, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(thr, [0.9, 0.8, 0.7])
    assert metrics.average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_closure_mae_ignores_missing_truth():
    assert metrics.closure_mae([0.1, 0.5, 0.9], [0.0, np.nan, 1.0]) == pytest.approx(0.1)


def test_events_from_closure_uses_hysteresis():
    c = [0, 0.3, 0.6, 0.3, 0, 0.3, 0.4, 0.2, 0.9, 0.9]
    # [1,4) reaches 0.6 -> blink; [5,7) never reaches 0.5 -> a squint, not a blink; [8,10) open at the end
    assert metrics.events_from_closure(c, high=0.5, low=0.25) == [(1, 4), (8, 10)]
    # noise dipping under high but not under low does not split one blink into two
    assert metrics.events_from_closure([0, 0.6, 0.45, 0.6, 0], high=0.5, low=0.25) == [(1, 4)]


def test_events_from_ids():
    assert metrics.events_from_ids([-1, 0, 0, -1, -1, 1, 1, 2]) == [(1, 3), (5, 7), (7, 8)]
    assert metrics.events_from_ids([np.nan, 3, 3]) == [(1, 3)]


def test_event_matching_iou_and_any_overlap():
    assert metrics.temporal_iou((0, 4), (1, 4)) == pytest.approx(0.75)
    assert metrics.match_events([(0, 4)], [(1, 4)]) == dict(tp=1, fp=0, fn=0)
    # IoU 1/5: a miss at IoU>=0.5, a hit when any overlap counts
    assert metrics.match_events([(0, 2)], [(1, 5)]) == dict(tp=0, fp=1, fn=1)
    assert metrics.match_events([(0, 2)], [(1, 5)], min_iou=None) == dict(tp=1, fp=0, fn=0)
    # one-to-one: two predictions over one true event -> one tp, one fp
    assert metrics.match_events([(0, 3), (3, 6)], [(0, 6)], min_iou=None) == dict(tp=1, fp=1, fn=0)
    m = metrics.event_metrics([([(0, 4)], [(1, 4)]), ([], [(2, 5)]), ([(9, 12)], [])])
    assert (m["iou50"]["tp"], m["iou50"]["fp"], m["iou50"]["fn"]) == (1, 1, 1)
    assert m["iou50"]["f1"] == pytest.approx(0.5)
    assert m["true_events"] == 2 and m["sequences"] == 3


# ------------------------------------------------------------------ trainer.evaluate end to end
@pytest.fixture
def untrained_checkpoint(tmp_path):
    import torch

    from trainer.checkpoint import checkpoint_state
    from trainer.models import create_model

    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    model = create_model("blinkformer_tiny", crop_size=48, window=13)
    torch.save(checkpoint_state(model, "blinkformer_tiny", dict(crop_size=48, window=13)), path)
    return path


def _strict_json(path):
    import json

    def no_nan(x):
        raise AssertionError(f"{path}: {x} is not valid JSON")
    return json.loads(path.read_text(), parse_constant=no_nan)


def test_evaluate_cli_writes_report_and_plots(tiny_dataset, untrained_checkpoint, tmp_path, capsys):
    import pandas as pd

    from trainer.evaluate import main

    report = tmp_path / "out" / "report.json"
    assert main(["--checkpoint", str(untrained_checkpoint), "--data", str(tiny_dataset),
                 "--report", str(report)]) == 0
    assert "F1" in capsys.readouterr().out
    r = _strict_json(report)
    frames = pd.read_csv(tiny_dataset / "frames.csv")
    n_clips = frames["clip_id"].nunique()
    blink_clips = int(frames.groupby("clip_id")["blink"].first().sum())
    # one window per 13-frame clip and eye; a blink clip is positive for both eyes
    assert r["windows"] == 2 * n_clips and r["clip"]["n"] == 2 * n_clips
    assert r["clip"]["positives"] == 2 * blink_clips
    assert set(r["per_eye"]) == {"left", "right"} and r["per_eye"]["left"]["clip"]["n"] == n_clips
    assert 0 <= r["closure_mae"] <= 1
    assert r["events"]["true_events"] == 2 * blink_clips and r["events"]["sequences"] == 2 * n_clips
    assert r["events"]["uncovered_frames"] == 0
    for name in ("report_pr_curve.png", "report_closure_scatter.png"):
        png = report.parent / name
        assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_split_errors_name_the_file(tiny_dataset, untrained_checkpoint, tmp_path, capsys):
    from trainer.evaluate import main

    assert main(["--checkpoint", str(untrained_checkpoint), "--data", str(tiny_dataset), "--split", "test",
                 "--report", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "frames.csv" in err and "split" in err
    assert not (tmp_path / "r.json").exists()
    assert main(["--checkpoint", str(tmp_path / "nope.pt"), "--data", str(tiny_dataset),
                 "--report", str(tmp_path / "r.json")]) == 2
    assert "nope.pt" in capsys.readouterr().err


def test_stitching_averages_overlapping_windows():
    from trainer.evaluate import stitch_sequences

    preds = {"clip_id": ["a", "a"], "eye": np.array([0, 0]), "start": np.array([0, 2]),
             "closure_pred": np.array([[0.0, 0.2, 0.4], [0.6, 0.8, 1.0]])}
    seq = stitch_sequences(preds, {"a": 5})[("a", 0)]["closure_pred"]
    np.testing.assert_allclose(seq, [0.0, 0.2, 0.5, 0.8, 1.0])


def test_evaluate_without_blink_labels_reports_undefined_not_zero(tiny_dataset, untrained_checkpoint, tmp_path):
    """Real single-image sets know closure but not blink: clip metrics are null, closure MAE is not."""
    import pandas as pd

    from trainer.evaluate import evaluate

    frames = pd.read_csv(tiny_dataset / "frames.csv")
    frames["blink"] = np.nan
    frames = frames.drop(columns=["left_blink_id", "right_blink_id"])
    frames.to_csv(tiny_dataset / "frames.csv", index=False)
    evaluate(str(untrained_checkpoint), str(tiny_dataset), None, str(tmp_path / "r.json"))
    r = _strict_json(tmp_path / "r.json")
    assert r["clip"]["n"] == 0 and r["clip"]["f1"] is None and r["clip"]["auroc"] is None
    assert 0 <= r["closure_mae"] <= 1
    # true events now come from the labelled closure (hysteresis), one per blink clip and eye
    assert r["events"]["true_events"] == 2 * int((frames.groupby("clip_id")["left_closure"].max() >= 0.5).sum())
