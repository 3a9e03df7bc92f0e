"""TrainConfig: every knob of a training run, with the reason for each default.

nanoGPT style: one flat dataclass, defaults commented, overridable from the command line
(`build_parser()` makes one flag per field) and stored in RUN/config.json and in every
checkpoint so a run can be resumed or re-read exactly.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import types as types_module
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from manifests.schema import EYES


class ConfigError(ValueError):
    """A bad config value; the message starts with the field name."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass
class TrainConfig:
    # --- data -------------------------------------------------------------------------
    data: str = ""  # dataset directory (manifest contract v1); required
    val: str | None = None  # separate validation dataset; None -> the `split` column of `data`
    out: str = "runs/train"  # run directory: checkpoints, metrics.csv, config.json, TensorBoard
    window: int = 13  # frames per sample: the paper's 13-frame clips (HUST-LEBW, SynBlink-50K)
    stride: int | None = None  # window stride inside long clips; None -> the dataset's default
    crop_size: int = 48  # eye crop side in pixels: the paper's 48x48x3 tokens
    eyes: tuple[str, ...] = EYES  # each eye is its own sample (paper)
    augment: bool = True  # photometric/geometric augmentation of training windows only
    augment_preset: str = "default"  # trainer/augment.py PRESETS: default, strong (issue 12 domain
    #                                  randomisation: framing, low resolution, occluders...), affine
    #                                  (wide zoom, low resolution), affine_wobble (+ per-frame crop
    #                                  wobble of real landmarks) or none
    cache: bool = True  # crop cache on disk: crops are cut once, not every epoch
    cache_dir: str | None = None  # None -> the dataset's default (DATASET/.cache)
    val_ratio: float = 0.15  # used only when no split exists: subject-disjoint val share
    test_ratio: float = 0.15  # ... and test share (kept out of training and model selection)
    split_seed: int = 0  # fixed so that the automatic split is the same on every run/machine
    # --- model ------------------------------------------------------------------------
    model: str = "blinkformer_cnn_tiny"  # a CNN per frame transferred best to real eyes (issue 12);
    #                                      the paper's flat embedding: blinkformer_tiny/_small/_base
    # --- optimisation -------------------------------------------------------------------
    epochs: int = 20  # tiny synthetic sets converge in tens of epochs; paper-scale needs fewer
    batch_size: int = 32  # GLOBAL batch (split over DDP processes); paper used 128 on GPU,
    #                       32 keeps a CPU step short
    lr: float = 1e-4  # AdamW peak learning rate (paper)
    weight_decay: float = 0.05  # usual AdamW value for ViT-style transformers
    beta1: float = 0.9  # AdamW defaults
    beta2: float = 0.999
    warmup_epochs: float = 1.0  # linear warm-up before the cosine decay (paper: "cosine with warm-up")
    min_lr_ratio: float = 0.01  # cosine decays to lr * min_lr_ratio, not to zero
    w_cls: float = 0.1  # weight of the clip blink BCE loss (paper: 0.1 x CE)
    w_closure: float = 0.9  # weight of the per-frame closure MSE (paper: 0.9 x MSE)
    pos_weight: float | None = None  # BCE positive-class weight for imbalanced sets; None -> 1
    balance: bool = False  # set pos_weight = negatives / positives of the training windows
    grad_clip: float = 1.0  # max global grad norm; transformers with warm-up still spike early
    # --- runtime --------------------------------------------------------------------------
    device: str = "auto"  # auto -> cuda if available, else cpu
    amp: str = "auto"  # auto -> bf16 autocast on CUDA, off on CPU (slow there); or "bf16"/"off"
    compile: bool = False  # torch.compile: faster on GPU for long runs, slow to start on CPU
    seed: int = 0  # seeds python, numpy, torch and the data order
    num_workers: int = 0  # DataLoader workers; 0 keeps tiny runs and tests single-process
    threads: int | None = None  # torch CPU threads; None -> torch's default. 1 is ~10x faster for
    #                             the tiny model on a busy machine (measured on 2 shared cores)
    select_on: str = "f1"  # best.pt chosen on validation "f1" (ties -> lower loss) or "loss"
    threshold: float = 0.5  # blink probability threshold for F1/precision/recall
    resume: bool = False  # continue from OUT/last.pt (exact: model, optimiser, schedule, RNG, data order)
    overwrite: bool = False  # replace the run already in OUT (fit refuses to without this or --resume)
    stop_after_epoch: int | None = None  # stop this invocation after this epoch (time-sliced jobs);
    #                                      the schedule still follows `epochs`, --resume continues
    log_every: int = 10  # tqdm postfix / TensorBoard scalar interval in steps
    progress: bool = True  # tqdm progress bars (off in tests and non-interactive jobs if wanted)

    def validate(self) -> "TrainConfig":
        """Raise ConfigError naming the field for a value that cannot work."""
        if not self.data:
            raise ConfigError("data", "a dataset directory is required (--data DIR)")
        for f in fields(self):  # NaN passes every `<` test below, inf makes no schedule
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f.name, f"must be a finite number, got {value!r}")
        from trainer.models import is_model, list_models  # checked before any data is read
        if not is_model(self.model):
            raise ConfigError("model", f"unknown model {self.model!r}; available: {', '.join(list_models())}")
        positive_ints = ("window", "crop_size", "epochs", "batch_size", "log_every")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(name, f"must be a positive integer, got {value!r}")
        if self.stride is not None and self.stride <= 0:
            raise ConfigError("stride", f"must be > 0, got {self.stride}")
        if self.lr <= 0:
            raise ConfigError("lr", f"must be > 0, got {self.lr}")
        if self.w_cls < 0 or self.w_closure < 0 or self.w_cls + self.w_closure == 0:
            raise ConfigError("w_cls", f"loss weights must be >= 0 and not both 0, got "
                                       f"w_cls={self.w_cls}, w_closure={self.w_closure}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError("min_lr_ratio", f"must be in [0, 1], got {self.min_lr_ratio}")
        if self.warmup_epochs < 0:
            raise ConfigError("warmup_epochs", f"must be >= 0, got {self.warmup_epochs}")
        if self.grad_clip is not None and self.grad_clip < 0:
            raise ConfigError("grad_clip", f"must be >= 0 (0 disables), got {self.grad_clip}")
        if self.amp not in ("auto", "bf16", "off"):
            raise ConfigError("amp", f"must be auto, bf16 or off, got {self.amp!r}")
        from trainer.augment import PRESETS
        if self.augment_preset not in PRESETS:
            raise ConfigError("augment_preset", f"must be one of {', '.join(PRESETS)}, got {self.augment_preset!r}")
        if self.select_on not in ("f1", "loss"):
            raise ConfigError("select_on", f"must be f1 or loss, got {self.select_on!r}")
        if not (0 < self.val_ratio < 1 and 0 <= self.test_ratio < 1
                and self.val_ratio + self.test_ratio < 1):
            raise ConfigError("val_ratio", f"val_ratio and test_ratio must leave some training data, "
                                           f"got {self.val_ratio} and {self.test_ratio}")
        bad_eyes = [e for e in self.eyes if e not in EYES]
        if bad_eyes or not self.eyes:
            raise ConfigError("eyes", f"must be a non-empty subset of left,right, got {self.eyes}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError("threads", f"must be >= 1, got {self.threads}")
        if self.num_workers < 0:
            raise ConfigError("num_workers", f"must be >= 0, got {self.num_workers}")
        if self.stop_after_epoch is not None and self.stop_after_epoch <= 0:
            raise ConfigError("stop_after_epoch", f"must be > 0, got {self.stop_after_epoch}")
        if self.pos_weight is not None and self.pos_weight <= 0:
            raise ConfigError("pos_weight", f"must be > 0, got {self.pos_weight}")
        if self.weight_decay < 0:
            raise ConfigError("weight_decay", f"must be >= 0, got {self.weight_decay}")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(name, f"must be in [0, 1), got {getattr(self, name)}")
        if not 0 <= self.threshold <= 1:
            raise ConfigError("threshold", f"must be in [0, 1], got {self.threshold}")
        if self.resume and self.overwrite:
            raise ConfigError("overwrite", "--resume continues the run in OUT, --overwrite replaces it: pick one")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["eyes"] = list(self.eyes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(unknown[0], "unknown config field")
        d = dict(d)
        if "eyes" in d:
            d["eyes"] = tuple(d["eyes"])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def field_comments() -> dict[str, str]:
    """The comment after each field in the source: the --help text (one place to explain a knob)."""
    import inspect
    import re

    comments, last = {}, None
    for line in inspect.getsource(TrainConfig).splitlines():
        m = re.match(r"\s+(\w+): [^=]+=[^#]*#\s*(.*)", line)
        more = re.match(r"\s+#\s*(.*)", line)
        if m:
            last = m.group(1)
            comments[last] = m.group(2)
        elif more and last:  # a comment continued on the next line
            comments[last] += " " + more.group(1)
        else:
            last = None
    return {k: v.replace("%", "%%") for k, v in comments.items()}


def field_types() -> dict[str, type]:
    """The value type of each TrainConfig field: `int | None` -> int, `tuple[str, ...]` -> tuple."""
    kinds = {}
    for name, hint in typing.get_type_hints(TrainConfig).items():
        if typing.get_origin(hint) in (typing.Union, types_module.UnionType):  # X | None -> X
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        kinds[name] = typing.get_origin(hint) or hint
    return kinds


def build_parser(description: str | None = None, defaults: bool = True) -> argparse.ArgumentParser:
    """One flag per TrainConfig field (`--batch-size`, `--no-augment`, ...). defaults=False:
    a flag that is not given is absent from the parsed namespace (which flags the user set)."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    values = TrainConfig()
    helps = field_comments()
    kinds = field_types()
    for f in fields(TrainConfig):
        default = getattr(values, f.name) if defaults else argparse.SUPPRESS
        if defaults and f.name == "eyes":
            default = list(default)
        h = helps.get(f.name, "")
        kind = kinds[f.name]
        if kind is bool:
            parser.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                                default=default, help=h)
        elif kind is tuple:  # eyes
            parser.add_argument(_flag(f.name), dest=f.name, nargs="+", default=default,
                                choices=list(EYES), help=h)
        else:
            parser.add_argument(_flag(f.name), dest=f.name, type=kind, default=default, help=h)
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    d = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    return TrainConfig.from_dict(d).validate()
