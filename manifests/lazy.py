"""Public names imported on first use (PEP 562), for the packages' ``__init__`` (standard library only).

    __getattr__ = lazy_getattr(__name__, {"FaceScene": "generator.scene", ...})

A name that is the module itself (``"schema": "manifests.schema"``) gives the module.
"""
import importlib


def lazy_getattr(package: str, public: dict):
    """A module ``__getattr__`` that imports ``public[name]`` when ``name`` is first used."""
    def __getattr__(name):
        if name not in public:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(public[name])
        return module if module.__name__ == f"{package}.{name}" else getattr(module, name)
    return __getattr__
