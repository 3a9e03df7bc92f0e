"""One JSON form for every frozen dataclass a clip is made of (the JSON columns of clips.csv).

    to_json(spec)                 # dataclass -> dict of its fields; tuples -> lists
    from_json(CameraSpec, value)  # the reverse, checking every key and type

A union of dataclasses (``LightSpec``, ``BackgroundSpec``) is told apart by the class variable
``KIND`` each member declares: ``to_json`` writes it as the key "kind", ``from_json`` picks the
member by it. ``from_json`` raises ValueError naming the path of the first bad value
("lights[1].power_w: must be a number, got 'x'"); a missing or unknown key is an error too, so a
row that reads back is the clip it was written from. Standard library only.
"""
from __future__ import annotations

import dataclasses
import typing


def to_json(obj):
    """Plain JSON-able value of ``obj`` (dataclasses by field name, in field order)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        kind = getattr(type(obj), "KIND", None)
        if kind is not None:
            out["kind"] = kind
        return out
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    return obj


def from_json(tp, value, path: str = "value"):
    """``value`` (as json.loads returns it) as an instance of the annotation ``tp``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            return from_json(members[0], value, path)
        kinds = {m.KIND: m for m in members}
        kind = value.get("kind") if isinstance(value, dict) else None
        if kind not in kinds:
            raise ValueError(f"{path}.kind: must be one of {', '.join(sorted(kinds))}, got {kind!r}")
        return from_json(kinds[kind], value, path)
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp, value, path)
    if origin is tuple:
        _need(isinstance(value, (list, tuple)), path, "a list", value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_json(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        _need(len(value) == len(args), path, f"a list of {len(args)}", value)
        return tuple(from_json(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is list:
        _need(isinstance(value, (list, tuple)), path, "a list", value)
        return [from_json(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _need(isinstance(value, dict), path, "an object", value)
        return {str(k): from_json(args[1], v, f"{path}.{k}") for k, v in value.items()}
    if tp is bool:
        _need(isinstance(value, bool), path, "true or false", value)
        return value
    if tp is int:
        ok = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        _need(ok and not isinstance(value, bool), path, "an integer", value)
        return int(value)
    if tp is float:
        _need(isinstance(value, (int, float)) and not isinstance(value, bool), path, "a number", value)
        return float(value)
    if tp is str:
        _need(isinstance(value, str), path, "a string", value)
        return value
    raise TypeError(f"{path}: no JSON form for {tp!r}")  # a programming error, not bad data


def _dataclass(cls, value, path: str):
    _need(isinstance(value, dict), path, "an object", value)
    fields = dataclasses.fields(cls)
    names = [f.name for f in fields]
    kind = getattr(cls, "KIND", None)
    if kind is not None and value.get("kind") != kind:
        raise ValueError(f"{path}.kind: must be {kind!r}, got {value.get('kind')!r}")
    unknown = sorted(set(value) - set(names) - ({"kind"} if kind is not None else set()))
    if unknown:
        raise ValueError(f"{path}.{unknown[0]}: unknown key (known: {', '.join(names)})")
    missing = [n for n in names if n not in value]
    if missing:
        raise ValueError(f"{path}.{missing[0]}: missing")
    hints = typing.get_type_hints(cls)
    return cls(**{n: from_json(hints[n], value[n], f"{path}.{n}") for n in names})


def _need(ok: bool, path: str, what: str, value) -> None:
    if not ok:
        raise ValueError(f"{path}: must be {what}, got {value!r}")
