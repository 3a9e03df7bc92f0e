"""Shared fixtures.

`tiny_dataset`: a fresh copy (yours to modify) of a valid dataset of 2 subjects x 2 clips x 13
frames of 96x96 PNGs with blink events whose pixels follow the labels
(manifests.synthetic.write_tiny_dataset). Drawn once per test session, copied per test.
"""
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from any directory without install


@pytest.fixture(scope="session")
def _tiny_dataset_template(tmp_path_factory):
    from manifests.synthetic import write_tiny_dataset

    return write_tiny_dataset(tmp_path_factory.mktemp("tiny_template") / "data")


@pytest.fixture
def tiny_dataset(_tiny_dataset_template, tmp_path) -> Path:
    """Path of a valid tiny dataset directory under tmp_path (a private copy)."""
    dst = tmp_path / "tiny"
    shutil.copytree(_tiny_dataset_template, dst)
    return dst
