"""The one argument parser shared by render.py, local workers and Ray workers.

    blender --background --python generator/render.py -- --out DATA --clips 100 --seed 0
    python -m generator.render --out DATA --clips 100 --seed 0 --config configs/demo.json

Flags override the config file; ``--set dotted.key=value`` overrides anything else
(the value is parsed as JSON when it can be: ``--set blink.wink_probability=0.1``,
``--set clip.resolution=[128,128]``, ``--set background.image_dir=/data/bg``).
Standard library only (runs in Blender's Python).
"""
import argparse
import json
import math
from typing import List, Optional, Tuple

from .config import (DEVICES, ENGINES, MAX_CLIPS, MAX_FPS, MAX_FRAMES, MAX_RESOLUTION, MAX_SAMPLES, MAX_SEED, MIN_FPS,
                     ConfigError, GeneratorConfig, load_config)


def argv_after_dashdash(argv: List[str]) -> List[str]:
    """Our arguments: those after Blender's ``--`` separator, or argv[1:] when there is none
    (``python -m generator.render ...`` with the bpy wheel)."""
    argv = list(argv)
    if "--" in argv:
        return argv[argv.index("--") + 1:]
    return argv[1:]


def parse_shard(text: str) -> Tuple[int, int]:
    """'i/N' -> (i, N) with 0 <= i < N: this process renders clips with index % N == i."""
    try:
        i_text, n_text = text.split("/")
        i, n = int(i_text), int(n_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must look like i/N (e.g. 0/4), got {text!r}")
    if n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard i/N needs 0 <= i < N, got {text!r}")
    return i, n


def _number_in(cast, noun: str, low, high):
    """An argparse type: ``cast(text)``, refused unless finite and in [low, high] (argparse names
    the flag in the message)."""
    def parse(text: str):
        try:
            v = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}")
        if not math.isfinite(v) or not low <= v <= high:
            raise argparse.ArgumentTypeError(f"expected {noun} in [{low:g}, {high:g}], got {text}")
        return v
    return parse


MAX_WORKERS = 1024  # local processes; more is a typo, not a machine
_clips = _number_in(int, "an integer", 0, MAX_CLIPS)
_seed = _number_in(int, "an integer", 0, MAX_SEED)
_frames = _number_in(int, "an integer", 1, MAX_FRAMES)
_fps = _number_in(float, "a number", MIN_FPS, MAX_FPS)
_resolution = _number_in(int, "an integer", 8, MAX_RESOLUTION)
_workers = _number_in(int, "an integer", 1, MAX_WORKERS)
_samples = _number_in(int, "an integer", 1, MAX_SAMPLES)


def parse_set(text: str) -> Tuple[str, object]:
    """'dotted.key=value' -> (key, value); value is JSON when it parses, else the raw string."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set needs dotted.key=value, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise argparse.ArgumentTypeError(f"--set needs dotted.key=value, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def build_parser(prog: Optional[str] = "synblink-render") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Render a synthetic eye-blink dataset (SynBlink).")
    p.add_argument("--out", required=True, metavar="DIR", help="dataset directory (created; re-running resumes)")
    p.add_argument("--clips", type=_clips, default=None, metavar="N",
                   help="number of clips, indices 0..N-1 (config n_clips; a rerun with a larger N adds clips)")
    p.add_argument("--seed", type=_seed, default=None, metavar="S", help="dataset seed (config seed, default 0)")
    p.add_argument("--config", default=None, metavar="FILE", help="JSON (or YAML) config; see configs/default.json")
    p.add_argument("--frames", type=_frames, default=None, metavar="T", help="frames per clip (clip.n_frames)")
    p.add_argument("--fps", type=_fps, default=None, metavar="F", help="frame rate (clip.fps)")
    p.add_argument("--resolution", type=_resolution, nargs=2, default=None, metavar=("W", "H"),
                   help="frame size in pixels (clip.resolution)")
    p.add_argument("--workers", type=_workers, default=1, metavar="N", help="local render processes")
    p.add_argument("--ray", default=None, metavar="auto|ADDRESS",
                   help="render on a running Ray cluster (auto: RAY_ADDRESS, or `ray start` on this machine); "
                        "a local cluster is never started (Ray listens on every interface)")
    p.add_argument("--shard", type=parse_shard, default=None, metavar="i/N",
                   help="render only clips with index %% N == i (several machines, one dataset)")
    p.add_argument("--video", action="store_true", default=None, help="also write videos/<clip_id>.mp4 (output.video)")
    p.add_argument("--eye-region", dest="eye_region", action="store_true", default=None,
                   help="render only a box around both eyes, black elsewhere (render.eye_region)")
    p.add_argument("--samples", type=_samples, default=None, metavar="K", help="render samples (render.samples)")
    p.add_argument("--engine", choices=ENGINES, default=None, help="render engine (render.engine)")
    p.add_argument("--allow-other-blender", dest="allow_other_blender", action="store_true",
                   help="extend a dataset rendered with another Blender version (refused by default)")
    p.add_argument("--device", choices=DEVICES, default=None,
                   help="Cycles device (render.device): cpu; gpu (OptiX/CUDA/HIP/Metal/oneAPI, error if none); "
                        "auto (a GPU if found, else the CPU). With GPUs, --workers N spreads N processes "
                        "round-robin over them")
    p.add_argument("--set", dest="overrides", type=parse_set, action="extend", nargs="+", default=[],
                   metavar="KEY=VALUE", help="override any config field, e.g. --set blink.wink_probability=0.1 "
                                          "clip.resolution=[128,128] (several per flag, flag repeatable)")
    return p


def overrides_from_args(args: argparse.Namespace) -> dict:
    """Dotted-key overrides from the flags; --set entries come last and win."""
    out = {}
    flag_fields = [("clips", "n_clips"), ("seed", "seed"), ("frames", "clip.n_frames"), ("fps", "clip.fps"),
                   ("samples", "render.samples"), ("engine", "render.engine"), ("device", "render.device"),
                   ("video", "output.video"), ("eye_region", "render.eye_region")]
    for attr, key in flag_fields:
        value = getattr(args, attr, None)
        if value is not None:
            out[key] = value
    if getattr(args, "resolution", None) is not None:
        out["clip.resolution"] = list(args.resolution)
    for key, value in getattr(args, "overrides", None) or []:
        out[key] = value
    return out


def config_from_args(args: argparse.Namespace) -> GeneratorConfig:
    """Defaults < --config file < flags < --set. Raises ConfigError naming the field."""
    return load_config(getattr(args, "config", None), overrides_from_args(args))


__all__ = ["build_parser", "config_from_args", "argv_after_dashdash", "parse_shard", "overrides_from_args",
           "ConfigError"]
