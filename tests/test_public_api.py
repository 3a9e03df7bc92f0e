"""The packages' public API: importing a package is light, and every listed name resolves."""
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_importing_the_packages_imports_nothing_heavy():
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); import generator, manifests, trainer; "
            "heavy = {'bpy', 'torch', 'cv2', 'pandas', 'numpy'} & set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("package", ["generator", "manifests", "trainer"])
def test_every_public_name_resolves(package):
    pkg = importlib.import_module(package)
    for name in pkg.__all__:
        if package == "generator" and name in ("FaceScene", "ClipWorker"):
            continue  # Blender side: needs bpy (tests/test_scene.py)
        assert getattr(pkg, name) is not None, f"{package}.{name}"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        getattr(pkg, "nope")
