"""validate(): the tiny dataset passes; each broken variant is rejected naming file, CSV line, column."""
import os

import numpy as np
import pandas as pd
import pytest

from manifests import schema
from manifests.validate import Problem, validate

FR, CL = "frames.csv", "clips.csv"


def _frames(root):
    return pd.read_csv(root / FR, dtype=str, keep_default_na=False)


def _clips(root):
    return pd.read_csv(root / CL, dtype=str, keep_default_na=False)


def set_cell(table, row, col, value):
    def apply(root):
        df = _frames(root) if table == FR else _clips(root)
        df.loc[row, col] = value
        df.to_csv(root / table, index=False)
    return apply


def transform(table, fn):
    def apply(root):
        df = _frames(root) if table == FR else _clips(root)
        fn(df).to_csv(root / table, index=False)
    return apply


def write_text(table, text):
    def apply(root):
        (root / table).write_text(text)
    return apply


def ragged_row(table, row, keep):
    """Line `row + 2` of `table` cut to its first `keep` fields."""
    def apply(root):
        lines = (root / table).read_text().splitlines(keepends=True)
        lines[row + 1] = ",".join(lines[row + 1].rstrip("\n").split(",")[:keep]) + "\n"
        (root / table).write_text("".join(lines))
    return apply


def replace_bytes(table, row, old, new):
    """Replace `old` with `new` (bytes) on line `row + 2` of `table`."""
    def apply(root):
        lines = (root / table).read_bytes().splitlines(keepends=True)
        assert old in lines[row + 1]
        lines[row + 1] = lines[row + 1].replace(old, new, 1)
        (root / table).write_bytes(b"".join(lines))
    return apply


def overwrite_image(row, data):
    def apply(root):
        (root / _frames(root).loc[row, "image"]).write_bytes(data)
    return apply


def image_path(row, value):
    """Point frame `row` at value(root, its current image path)."""
    def apply(root):
        df = _frames(root)
        df.loc[row, "image"] = value(root, df.loc[row, "image"])
        df.to_csv(root / FR, index=False)
    return apply


def _escape_through_symlink(root, image):
    outside = root.parent / "elsewhere"
    outside.mkdir()
    (outside / "f.png").write_bytes((root / image).read_bytes())  # a valid image, just outside
    os.symlink(outside, root / "frames" / "link")
    return "frames/link/f.png"


def _open_row_with_event_id(df):
    df.loc[0, "left_blink_id"] = "0"  # frame 0 of every tiny clip is open
    return df


def _duplicate_frame(df):
    df.loc[1, "frame"] = "0"
    return df


def _ghost_clip(df):
    ghost = df.iloc[[0]].copy()
    ghost["clip_id"] = "ghost"
    return pd.concat([df, ghost], ignore_index=True)


def _hide_and_move(df):
    df.loc[5, "right_pupil_x"] = "200"
    df.loc[5, "right_visible"] = "0"
    return df


# (id, breakage, [(file, line, column, message fragment), ...], exact: no other problems)
GALLERY = [
    ("missing_required_column", transform(FR, lambda d: d.drop(columns=["left_closure"])),
     [(FR, 1, "left_closure", "required column is missing")], True),
    ("float_not_a_number", set_cell(FR, 3, "left_closure", "abc"),
     [(FR, 5, "left_closure", "'abc' is not a number")], True),
    ("int_not_an_integer", set_cell(FR, 0, "width", "96.5"),
     [(FR, 2, "width", "'96.5' is not an integer")], False),
    ("frame_unparseable_leaves_gap", set_cell(FR, 2, "frame", "x"),
     [(FR, 4, "frame", "'x' is not an integer"), (FR, 2, "frame", "missing 2")], False),
    ("closure_above_one", set_cell(FR, 7, "right_closure", "1.5"),
     [(FR, 9, "right_closure", "1.5 is not in [0, 1]")], True),
    ("closure_negative", set_cell(FR, 20, "left_closure", "-0.1"),
     [(FR, 22, "left_closure", "-0.1 is not in [0, 1]")], True),
    ("unknown_phase", set_cell(FR, 4, "left_phase", "blinking"),
     [(FR, 6, "left_phase", "'blinking' is not a phase")], True),
    ("landmark_outside_image", set_cell(FR, 5, "right_pupil_x", "200"),
     [(FR, 7, "right_pupil_x", "200 is outside the image (x in [0, 96])")], True),
    ("landmark_negative_y", set_cell(FR, 30, "left_upper_y", "-3"),
     [(FR, 32, "left_upper_y", "-3 is outside the image (y in [0, 96])")], True),
    ("duplicate_clip_frame", transform(FR, _duplicate_frame),
     [(FR, 3, "frame", "duplicate (clip_id, frame) = ('0000_0000000', 0); first at line 2"),
      (FR, 2, "frame", "missing 1")], True),
    ("gap_in_frames", transform(FR, lambda d: d.drop(index=5)),
     [(FR, 2, "frame", "must be 0..n-1 with no gaps; missing 5"),
      (CL, 2, "n_frames", "13 disagrees with frames.csv, which has 12 frames")], True),
    ("frames_not_starting_at_zero", transform(FR, lambda d: d.drop(index=13)),
     [(FR, 15, "frame", "missing 0"), (CL, 3, "n_frames", "disagrees")], True),
    ("image_missing", set_cell(FR, 9, "image", "frames/nope.png"),
     [(FR, 11, "image", "file not found: 'frames/nope.png'")], True),
    ("image_absolute", set_cell(FR, 9, "image", "/etc/passwd"),
     [(FR, 11, "image", "must be relative")], True),
    ("image_empty_no_video", set_cell(FR, 9, "image", ""),
     [(FR, 11, "image", "every frame needs an image")], True),
    ("clip_level_value_differs", set_cell(FR, 3, "fps", "25"),
     [(FR, 5, "fps", "25 differs from 30 at line 2")], True),
    ("subject_differs_within_clip", set_cell(FR, 40, "subject_id", "someone"),
     [(FR, 42, "subject_id", "'someone' differs from 'subject_001'")], True),
    ("blink_not_binary", set_cell(FR, 3, "blink", "2"),
     [(FR, 5, "blink", "2 is not 0 or 1"), (FR, 5, "blink", "differs")], True),
    ("visible_not_binary", set_cell(FR, 3, "left_visible", "7"),
     [(FR, 5, "left_visible", "7 is not 0 or 1")], True),
    ("blink_id_on_open_frame", transform(FR, _open_row_with_event_id),
     [(FR, 2, "left_blink_id", "does not match phase 'open'")], True),
    ("blink_id_below_minus_one", set_cell(FR, 0, "right_blink_id", "-2"),
     [(FR, 2, "right_blink_id", "-2 is not a blink id")], False),
    ("empty_clip_id", set_cell(FR, 2, "clip_id", ""),
     [(FR, 4, "clip_id", "empty value")], False),
    ("bad_split_value", transform(FR, lambda d: d.assign(split="train").assign(
        split=lambda x: np.where(x.index == 6, "training", "train"))),
     [(FR, 8, "split", "'training' is not a split"), (FR, 8, "split", "differs")], False),
    ("video_without_video_frame", transform(FR, lambda d: d.assign(video="", video_frame="").assign(
        video=lambda x: np.where(x.index == 3, "videos/a.mp4", ""))),
     [(FR, 5, "video_frame", "needs its video_frame"), (FR, 5, "video", "file not found")], False),
    ("clip_missing_from_clips_csv", transform(CL, lambda d: d.drop(index=1)),
     [(CL, None, "clip_id", "clip '0000_0000001' of frames.csv (line 15) has no row in clips.csv")], True),
    ("clip_without_frames", transform(CL, _ghost_clip),
     [(CL, 6, "clip_id", "clip 'ghost' has no frames in frames.csv")], True),
    ("n_frames_mismatch", set_cell(CL, 0, "n_frames", "12"),
     [(CL, 2, "n_frames", "12 disagrees with frames.csv, which has 13 frames for clip '0000_0000000'")], True),
    ("clips_missing_required_column", transform(CL, lambda d: d.drop(columns=["cut_event"])),
     [(CL, 1, "cut_event", "required column is missing")], True),
    ("clips_subject_disagrees", set_cell(CL, 2, "subject_id", "subject_999"),
     [(CL, 4, "subject_id", "'subject_999' disagrees with frames.csv, which has 'subject_001'")], True),
    ("clips_duplicate_clip_id", transform(CL, lambda d: pd.concat([d, d.iloc[[0]]], ignore_index=True)),
     [(CL, 6, "clip_id", "duplicate (clip_id) = ('0000_0000000'); first at line 2")], True),
    ("frames_csv_empty_file", write_text(FR, ""),
     [(FR, None, None, "file is empty")], True),
    ("frames_csv_header_only", write_text(FR, ",".join(schema.FRAME_REQUIRED_COLUMNS) + "\n"),
     [(FR, None, None, "no data rows")], False),
    ("ragged_row_25_of_41_fields", ragged_row(FR, 3, 25),
     [(FR, 5, None, "25 fields where the header has")], True),
    ("row_with_an_extra_field", replace_bytes(FR, 6, b"\n", b",extra\n"),
     [(FR, 8, None, "fields where the header has")], True),
    ("blank_line_in_frames", replace_bytes(FR, 2, b"\n", b"\n\n"),
     [(FR, 5, None, "blank line")], True),
    ("ragged_clips_row", ragged_row(CL, 1, 3),
     [(CL, 3, None, "3 fields where the header has")], True),
    ("not_utf8_on_line_30", replace_bytes(FR, 28, b"subject_", b"subj\xe9ct_"),
     [(FR, 30, None, "not UTF-8 text: byte 0xe9")], True),
    ("empty_png", overwrite_image(4, b""),
     [(FR, 6, "image", "is an empty file (0 bytes)")], True),
    ("garbage_png", overwrite_image(5, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4),
     [(FR, 7, "image", "cannot be decoded as an image")], True),
    ("absolute_image_path", image_path(2, lambda root, img: str(root / img)),
     [(FR, 4, "image", "must be relative to the dataset directory")], True),
    ("dotdot_image_path", image_path(2, lambda root, img: "frames/../" + img),
     [(FR, 4, "image", "contains '..'")], True),
    ("image_through_symlink_outside", image_path(3, _escape_through_symlink),
     [(FR, 5, "image", "leads outside the dataset directory")], True),
    ("frames_csv_missing", lambda root: os.remove(root / FR),
     [(FR, None, None, "file not found")], True),
]


@pytest.mark.parametrize("breakage,expected,exact", [g[1:] for g in GALLERY], ids=[g[0] for g in GALLERY])
def test_broken_variant_is_rejected_naming_file_line_column(tiny_dataset, breakage, expected, exact):
    assert validate(tiny_dataset) == []
    breakage(tiny_dataset)
    problems = validate(tiny_dataset)
    for file, line, column, fragment in expected:
        hits = [p for p in problems if p.file == str(tiny_dataset / file) and p.line == line
                and p.column == column and fragment in p.message]
        assert len(hits) == 1, f"expected {file}:{line}: {column}: ...{fragment}... in\n" + \
            "\n".join(map(str, problems))
    if exact:
        assert len(problems) == len(expected), "\n".join(map(str, problems))


def test_no_decode_skips_decoding_but_still_checks_existence(tiny_dataset):
    images = _frames(tiny_dataset)["image"]
    (tiny_dataset / images[4]).write_bytes(b"")
    os.remove(tiny_dataset / images[7])
    assert [(p.line, p.message.split(" ")[0]) for p in validate(tiny_dataset, decode=False)] == [(9, "file")]
    assert [p.line for p in validate(tiny_dataset)] == [6, 9]


def test_an_image_of_another_size_than_width_height_is_named(tiny_dataset):
    import cv2

    img = tiny_dataset / _frames(tiny_dataset)["image"][10]
    cv2.imwrite(str(img), np.zeros((40, 30, 3), np.uint8))
    assert [str(p).split(str(tiny_dataset) + "/")[1] for p in validate(tiny_dataset)] == [
        f"frames.csv:12: image: {img.relative_to(tiny_dataset).as_posix()!r} is 30x40 pixels "
        "but width, height say 96x96"]


def test_tiny_dataset_is_valid_with_every_feature(tiny_dataset):
    assert validate(tiny_dataset, features=list(schema.FEATURES)) == []


def test_all_problems_are_reported_not_just_the_first(tiny_dataset):
    df = _frames(tiny_dataset)
    df.loc[3, "left_closure"] = "2"
    df.loc[30, "right_phase"] = "shut"
    df.loc[50, "left_outer_x"] = "-1"
    df.to_csv(tiny_dataset / FR, index=False)
    lines = sorted((p.line, p.column) for p in validate(tiny_dataset))
    assert lines == [(5, "left_closure"), (32, "right_phase"), (52, "left_outer_x")]


def test_problem_prints_as_file_line_column_message(tiny_dataset):
    set_cell(FR, 3, "left_closure", "1.5")(tiny_dataset)
    (p,) = validate(tiny_dataset)
    assert str(p) == f"{tiny_dataset / FR}:5: left_closure: 1.5 is not in [0, 1]"
    assert p.row == p.line == 5
    assert str(Problem("clips.csv", None, None, "x")) == "clips.csv: x"


def test_hidden_eye_may_have_landmarks_outside_or_empty(tiny_dataset):
    transform(FR, _hide_and_move)(tiny_dataset)
    set_cell(FR, 6, "right_pupil_x", "")(tiny_dataset)
    assert validate(tiny_dataset) == []


def test_real_datasets_may_leave_optional_values_empty(tiny_dataset):
    df = _frames(tiny_dataset)
    for col in ["subject_id", "fps", "blink", "head_yaw"] + schema.eye_columns("left"):
        df[col] = ""
    df.to_csv(tiny_dataset / FR, index=False)
    clips = _clips(tiny_dataset).assign(subject_id="", fps="", blink="")
    clips.to_csv(tiny_dataset / CL, index=False)
    assert validate(tiny_dataset) == []
    # ...but a feature that needs them says so, per row and column
    problems = validate(tiny_dataset, features=["closure_regression"])
    assert {p.column for p in problems} == {"left_closure"} and len(problems) == 52


def test_clips_csv_is_optional(tiny_dataset):
    os.remove(tiny_dataset / CL)
    assert validate(tiny_dataset) == []


def test_unknown_feature_is_an_error(tiny_dataset):
    with pytest.raises(ValueError, match="unknown feature 'closure'"):
        validate(tiny_dataset, features=["closure"])


def test_large_manifest_names_the_one_bad_line(tmp_path):
    """100k rows (about 7.7k clips): the vectorised checks still name the exact line (no timing
    here: a unit test must pass on any machine)."""
    from manifests.synthetic import write_tiny_dataset

    root = write_tiny_dataset(tmp_path / "d", n_subjects=1, clips_per_subject=1, size=32)
    one = _frames(root)
    reps = 100_000 // len(one)
    big = pd.concat([one] * reps, ignore_index=True)
    big["clip_id"] = np.repeat([f"c{i:06d}" for i in range(reps)], len(one))
    big["image"] = one["image"].tolist() * reps  # every clip points at the same existing PNGs
    big.loc[23_457, "left_closure"] = "3"
    big.to_csv(root / FR, index=False)
    os.remove(root / CL)
    problems = validate(root)
    assert [(p.line, p.column) for p in problems] == [(23_459, "left_closure")]
