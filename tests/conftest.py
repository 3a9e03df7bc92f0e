"""Shared fixtures.

`tiny_dataset`: a fresh copy (yours to modify) of a valid dataset of 2 subjects x 2 clips x 13
frames of 96x96 PNGs with blink events whose pixels follow the labels
(manifests.synthetic.write_tiny_dataset). Drawn once per test session, copied per test.
`system_python`: Debian's python3 with numpy, the Python Debian's Blender 3.4 runs.

The suite must pass on any machine: 1, 2 or 16 cores, loaded or idle, any CPU family. No test
times itself (hypothesis deadlines off too), and none compares floats bit for bit across
numpy versions or CPUs.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from any directory without install

try:
    from hypothesis import HealthCheck, settings

    # a loaded 1-core CI box is slow: no per-example deadline, no "too slow" health check
    settings.register_profile("any_machine", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("any_machine")
except ImportError:  # hypothesis is a dev extra; the tests that use it import it themselves
    pass


@pytest.fixture(scope="session")
def system_python() -> str:
    """/usr/bin/python3 with numpy. Skipped where there is none, unless SYNBLINK_REQUIRE_BLENDER=1
    (CI): the comparison with Blender 3.4's own Python and numpy must not silently skip there."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    if python and subprocess.run([python, "-c", "import numpy"], capture_output=True, env=env).returncode == 0:
        return python
    if os.environ.get("SYNBLINK_REQUIRE_BLENDER") == "1":
        pytest.fail("SYNBLINK_REQUIRE_BLENDER=1 but no /usr/bin/python3 with numpy (apt-get install python3-numpy)")
    pytest.skip("no system python3 with numpy (Debian's Blender uses it)")


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
