"""SynBlink manifests: the dataset contract (frames.csv, clips.csv) and tools around it.

`manifests.schema` is standard-library only (the render process imports it); the other modules
use pandas. Command line: ``python -m manifests validate|merge|split|stats|adapt ...``.
"""
from manifests.schema import MANIFEST_VERSION  # noqa: F401
