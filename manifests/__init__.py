"""SynBlink manifests: the dataset contract (frames.csv, clips.csv) and tools around it.

`manifests.schema` and `manifests.eye_crop` are standard-library only (the render process
imports them); the other modules use pandas and are imported on first use of one of their
names. Command line: ``python -m manifests validate|merge|split|stats|adapt ...``.
"""
import importlib

from manifests.schema import MANIFEST_VERSION  # noqa: F401

_PUBLIC = {
    # the contract (stdlib modules): column names, dtypes, conventions; the eye crop both sides share
    "schema": "manifests.schema", "eye_crop": "manifests.eye_crop",
    # reading and writing, with file:line errors
    "read_frames": "manifests.io", "read_clips": "manifests.io", "write_csv": "manifests.io",
    "ManifestError": "manifests.io", "Dataset": "manifests.io",
    # tools over whole datasets (modules; each is also a `python -m manifests` command)
    "validate": "manifests.validate", "merge": "manifests.merge", "split": "manifests.split",
    "stats": "manifests.stats",
    # real datasets into the same contract (module of adapters)
    "adapters": "manifests.adapters",
}
__all__ = ["MANIFEST_VERSION", *_PUBLIC]


def __getattr__(name):  # PEP 562: the module of a public name is imported when the name is first used
    if name not in _PUBLIC:
        raise AttributeError(f"module 'manifests' has no attribute {name!r}")
    module = importlib.import_module(_PUBLIC[name])
    return module if module.__name__ == f"manifests.{name}" else getattr(module, name)
