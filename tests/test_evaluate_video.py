"""trainer.evaluate_video: label reading, event matching with don't-care ranges, and the command."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trainer.evaluate_video import VideoLabels, frame_truth, read_labels, score_events


def test_matching_is_one_to_one_by_overlap_and_dont_care_is_ignored():
    labels = VideoLabels(blinks=((10, 14), (40, 44)), dont_care=((60, 70),))
    # two detections on the first blink: one matches, the other is a false positive
    r = score_events([(9, 11), (13, 16), (62, 64), (90, 92)], labels)
    assert (r["tp"], r["fp"], r["fn"]) == (1, 2, 1)
    assert r["fp_events"] == [[13, 16], [90, 92]] or r["fp_events"] == [[9, 11], [90, 92]]
    assert r["missed"] == [[40, 44]]
    assert r["precision"] == pytest.approx(1 / 3) and r["recall"] == pytest.approx(0.5)
    # inclusive ends: a detection ending on a label's first frame overlaps it
    assert score_events([(5, 10)], VideoLabels(((10, 12),), ()))["tp"] == 1
    assert score_events([(5, 9)], VideoLabels(((10, 12),), ()))["tp"] == 0


def test_labels_doubtful_rows_and_exclusions_are_dont_care(tmp_path):
    (tmp_path / "blinks.csv").write_text(
        "video,blink_id,start,peak,end,kind,eyes,notes\n"
        "a.mp4,1,3,4,5,full,both,\n"
        "a.mp4,2,20,21,22,partial,both,DOUBTFUL: gaze shift\n"
        "b.mp4,1,7,7,7,full,both,closed at 7\n")
    (tmp_path / "exclusions.csv").write_text("video,start,end,reason\na.mp4,30,40,glare\nc.mp4,0,3,wink\n")
    labels = read_labels(tmp_path / "blinks.csv", tmp_path / "exclusions.csv")
    assert labels["a.mp4"] == VideoLabels(blinks=((3, 5),), dont_care=((20, 22), (30, 40)))
    assert labels["b.mp4"].blinks == ((7, 7),) and labels["c.mp4"] == VideoLabels((), ((0, 3),))
    pos, skip = frame_truth(45, labels["a.mp4"])
    assert pos.sum() == 3 and skip.sum() == 3 + 11
    (tmp_path / "bad.csv").write_text("video,start,end\na.mp4,5,x\n")
    with pytest.raises(ValueError, match=r"bad.csv: row 2: end"):
        read_labels(tmp_path / "bad.csv", None)
    (tmp_path / "rev.csv").write_text("video,start,end\na.mp4,5,4\n")
    with pytest.raises(ValueError, match=r"rev.csv: row 2: end < start"):
        read_labels(tmp_path / "rev.csv", None)


def test_command_scores_a_labelled_folder(tmp_path, capsys):
    pytest.importorskip("mediapipe")
    pytest.importorskip("skimage")
    from tests.video_fixtures import face_frames, write_video
    from trainer.evaluate_video import main

    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "one.mp4", face_frames(40, closed=range(12, 15)))
    write_video(videos / "none.mp4", face_frames(30))  # not in the labels: no blinks
    (videos / "blinks.csv").write_text("video,start,end,notes\none.mp4,12,14,\n")
    out = tmp_path / "eval"
    assert main(["--videos", str(videos), "--method", "ear", "--out", str(out)]) == 0
    report = pd.read_csv(out / "report.csv")
    assert set(report["video"]) == {"one.mp4", "none.mp4", "ALL"}
    one = report.query("video == 'one.mp4'").iloc[0]
    assert (one["tp"], one["fp"], one["fn"]) == (1, 0, 0) and one["frame_auroc"] > 0.95
    total = report.query("video == 'ALL'").iloc[0]
    assert total["f1"] == 1.0 and total["frames"] == 70
    assert (out / "plots" / "one.png").stat().st_size > 1000 and (out / "ear" / "one" / "events.csv").is_file()
    assert json.loads((out / "report.json").read_text())["methods"] == ["ear"]
    assert "| **ALL** |" in capsys.readouterr().out
    # the API's default (bench/transfer.py relies on it): every video of the folder, labelled or not,
    # so detections in a video without blinks count as false positives
    from trainer.evaluate_video import evaluate_videos
    api = evaluate_videos(videos, read_labels(videos / "blinks.csv", None), ["ear"], tmp_path / "api")
    assert set(api["video"]) == {"one.mp4", "none.mp4", "ALL"}
    # a video with no face anywhere: a warning, its labels count as missed, the rest is scored
    write_video(videos / "blank.mp4", [np.full((48, 64, 3), 90, np.uint8)] * 5)
    (videos / "blinks.csv").write_text("video,start,end,notes\none.mp4,12,14,\nblank.mp4,1,2,\n")
    assert main(["--videos", str(videos), "--method", "ear", "--out", str(tmp_path / "eval2")]) == 0
    assert "blank.mp4" in capsys.readouterr().err
    report = pd.read_csv(tmp_path / "eval2" / "report.csv").set_index("video")
    assert report.loc["blank.mp4", "fn"] == 1 and report.loc["ALL", "tp"] == 1 and report.loc["ALL", "fn"] == 1
    # a labels file naming a video that is not there: one line, exit 2
    (videos / "blinks.csv").write_text("video,start,end\nghost.mp4,1,2\n")
    assert main(["--videos", str(videos), "--method", "ear", "--out", str(out)]) == 2
    assert "ghost.mp4" in capsys.readouterr().err
