"""manifests.schema conventions, manifests.io reading/writing, and the synthetic tiny dataset."""
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from manifests import schema
from manifests.io import Dataset, ManifestError, read_clips, read_frames, write_csv

REPO = Path(__file__).resolve().parents[1]


def test_schema_imports_with_the_standard_library_only():
    """The Blender render process imports it: no pandas/numpy, and the system python (3.10+)."""
    py = shutil.which("python3")
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); import manifests.schema as s; "
            "assert not {'pandas', 'numpy'} & set(sys.modules), sys.modules.keys(); print(len(s.FRAME_COLUMNS))")
    out = subprocess.run([py, "-S", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(schema.FRAME_COLUMNS)


def test_schema_conventions():
    assert schema.eye_columns("left")[:3] == ["left_closure", "left_phase", "left_blink_id"]
    with pytest.raises(ValueError):
        schema.eye_columns("zuo")
    cols = set(schema.FRAME_COLUMNS)
    assert len(cols) == len(schema.FRAME_COLUMNS)
    for feature, needed in schema.FEATURES.items():
        assert set(needed) <= cols, feature
    assert set(schema.CLIP_LEVEL_COLUMNS) <= cols
    assert schema.FEATURES["eye_crops"][3:] and all("outer" in c or "inner" in c for c in schema.FEATURES["eye_crops"][3:])
    assert schema.frame_image_path("c1", 7) == "frames/c1/0007.png"


def test_read_frames_types(tiny_dataset):
    f = read_frames(tiny_dataset)
    assert str(f["frame"].dtype) == "Int64" and str(f["left_closure"].dtype) == "float64"
    assert str(f["clip_id"].dtype) == "string" and str(f["left_visible"].dtype) == "Int64"
    c = read_clips(tiny_dataset)
    assert c["eye_half_width"].dtype == np.float64  # extra sampled-parameter column kept, numeric
    ds = Dataset.load(tiny_dataset)
    assert len(ds.frames) == 52 and len(ds.clips) == 4
    assert ds.path(ds.frames["image"].iloc[0]).is_file()


@pytest.mark.parametrize("content,expected", [
    ("", "frames.csv: file is empty"),
    ("clip_id,frame,frame\na,0,0\n", "frames.csv:1: duplicate column(s) in the header: frame"),
    ("clip_id,frame\na,zero\n", "frames.csv:2: frame: 'zero' is not an integer"),
    ("clip_id,frame\na,0\na,1.5\n", "frames.csv:3: frame: '1.5' is not an integer"),
    ("clip_id,left_closure\na,0.5\nb,half\n", "frames.csv:3: left_closure: 'half' is not a number"),
])
def test_read_frames_errors_name_file_line_column(tmp_path, content, expected):
    (tmp_path / "frames.csv").write_text(content)
    with pytest.raises(ManifestError) as e:
        read_frames(tmp_path)
    assert str(e.value).startswith(f"{tmp_path}/{expected}")


def test_read_missing_file(tmp_path):
    with pytest.raises(ManifestError, match="clips.csv: file not found"):
        read_clips(tmp_path)


def test_write_csv_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "frames.csv"
    write_csv(pd.DataFrame({"a": [1, 2]}), path)
    original = path.read_text()

    def crash(self, f, **kw):
        f.write("a\n1\n")  # half a file...
        raise OSError("disk full")  # ...then the writer dies

    monkeypatch.setattr(pd.DataFrame, "to_csv", crash)
    with pytest.raises(OSError, match="disk full"):
        write_csv(pd.DataFrame({"a": [3, 4, 5]}), path)
    assert path.read_text() == original
    assert [p.name for p in tmp_path.iterdir()] == ["frames.csv"]  # no temporary file left


def test_synthetic_labels_match_pixels(tiny_dataset):
    f = read_frames(tiny_dataset)
    # subject's left eye on the image's right, outer corners away from the nose
    assert (f["left_pupil_x"] > f["right_pupil_x"]).all()
    assert (f["left_outer_x"] > f["left_inner_x"]).all() and (f["right_outer_x"] < f["right_inner_x"]).all()
    dark_open, dark_closed = [], []
    for _, r in f.iterrows():
        gray = cv2.imread(str(tiny_dataset / r["image"]), cv2.IMREAD_GRAYSCALE).astype(float)
        for eye in schema.EYES:
            x, y = int(r[f"{eye}_pupil_x"]), int(r[f"{eye}_pupil_y"])  # pixel (x, y) spans [x, x+1)
            v = gray[y, x]
            if r[f"{eye}_closure"] < 0.2:
                dark_open.append(v)
            elif r[f"{eye}_closure"] > 0.95:
                dark_closed.append(v)
            # aperture in the labels follows closure: (1 - closure) * neutral
            ap = r[f"{eye}_lower_y"] - r[f"{eye}_upper_y"]
            assert ap >= 0
    assert dark_open and dark_closed
    assert max(dark_open) < 80 and max(dark_open) + 30 < min(dark_closed)  # pupil visible when open, covered by the lid when closed


def test_synthetic_blink_clips_hold_a_whole_event(tiny_dataset):
    f = read_frames(tiny_dataset)
    for clip_id, g in f.groupby("clip_id"):
        g = g.sort_values("frame")
        in_event = g["left_blink_id"] >= 0
        if g["blink"].iloc[0] == 1:
            peak = int(g["left_closure"].to_numpy().argmax())
            assert 4 <= peak <= 8 and g["left_closure"].max() >= 0.9
            assert g["left_phase"].iloc[0] == "open" and g["left_phase"].iloc[-1] == "open"  # not cut
            phases = [p for p in g["left_phase"] if p != "open"]
            assert phases[0] == "closing" and phases[-1] == "opening"
        else:
            assert not in_event.any() and g["left_closure"].max() < 0.2


def test_spreadsheet_bom_and_spaces_are_accepted(tmp_path):
    (tmp_path / "frames.csv").write_bytes(b"\xef\xbb\xbfclip_id , frame,left_closure\na,0, 0.5\n")
    f = read_frames(tmp_path)
    assert f.columns.tolist() == ["clip_id", "frame", "left_closure"]
    assert f["left_closure"].iloc[0] == 0.5


def test_blank_lines_at_the_end_are_fine_but_not_between_rows(tmp_path):
    from manifests.io import ManifestError, ragged_lines, read_raw_csv

    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3,4\n\n\n")
    assert ragged_lines(path, 2) == [] and len(read_raw_csv(path)) == 2
    path.write_text('a,b\n1,2\n\n"x,y",4\n5\n')
    assert ragged_lines(path, 2) == [(3, 0), (5, 1)]  # the quoted comma is one field
    with pytest.raises(ManifestError, match=r"t.csv:3: blank line \(2 such lines\)"):
        read_raw_csv(path)


def test_resolve_inside_refuses_every_way_out_of_the_dataset(tmp_path):
    import os

    from manifests.io import UnsafePathError, resolve_inside

    root = tmp_path / "d"
    (root / "frames" / "c").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", root / "frames" / "out")  # a directory link leading out
    os.symlink(root / "frames" / "c", root / "frames" / "in")  # one staying inside: fine
    os.symlink(tmp_path / "outside" / "f.png", root / "frames" / "c" / "f.png")  # a file link out
    assert resolve_inside(root, "frames/c/0000.png") == root / "frames" / "c" / "0000.png"
    assert resolve_inside(root, "frames/in/0000.png") == root / "frames" / "in" / "0000.png"
    for bad, why in [("/etc/passwd", "must be relative"), ("C:/x.png", "must be relative"),
                     ("frames/../../x.png", "contains '..'"), ("frames/c/../0.png", "contains '..'"),
                     ("frames/out/x.png", "leads outside"), ("frames/c/f.png", "leads outside"),
                     ("", "empty path")]:
        with pytest.raises(UnsafePathError, match=why):
            resolve_inside(root, bad)
