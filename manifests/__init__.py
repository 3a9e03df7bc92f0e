"""SynBlink manifests: the dataset contract (frames.csv, clips.csv) and tools around it.

`manifests.schema`, `manifests.eye_crop` and `manifests.lazy` are standard-library only (the render process
imports them); the other modules use pandas and are imported on first use of one of their
names. Command line: ``python -m manifests validate|merge|split|stats|adapt ...``.
"""
from manifests.lazy import lazy_getattr
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

__getattr__ = lazy_getattr(__name__, _PUBLIC)  # PEP 562: each module is imported when a name of it is first used
