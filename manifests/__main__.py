"""python -m manifests validate|merge|split|stats|adapt ...   (exit status 0 = success)

    python -m manifests validate DIR [--features eye_crops,closure_regression] [--no-files] [--no-decode] [--limit N]
    python -m manifests merge OUT SHARD [SHARD ...]
    python -m manifests split DIR [--ratios 0.8 0.1 0.1] [--seed 0] [--out FILE]
    python -m manifests stats DIR [--json]
    python -m manifests adapt eye-state|hust-lebw|eyeblink8|synblink50k|rt-bene SRC OUT

Problems are printed one per line as `file:line: column: message` (line = CSV line number,
header = 1), so editors and CI logs can jump to them. Exit status: 0 ok, 1 validate found
problems, 2 bad input (a one-line `error: file:line: ...` on stderr, nothing written) or wrong
command-line usage.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys

from manifests import schema
from manifests.cli_errors import one_line_errors
from manifests.io import ManifestError


def cmd_validate(a) -> int:
    from manifests.validate import validate

    features = [f for f in (a.features or "").split(",") if f]
    problems = validate(a.dir, features=features, check_files=not a.no_files, decode=not a.no_decode)
    shown = problems if a.limit <= 0 else problems[: a.limit]
    for p in shown:
        print(p)
    if len(problems) > len(shown):
        print(f"... and {len(problems) - len(shown)} more problems (--limit 0 shows all)")
    if problems:
        print(f"INVALID: {len(problems)} problem(s) in {a.dir}", file=sys.stderr)
        return 1
    print(f"ok: {a.dir} is a valid manifest v{schema.MANIFEST_VERSION} dataset")
    return 0


def cmd_merge(a) -> int:
    from manifests.merge import merge

    out = merge(a.shards, a.out)
    print(f"merged {len(a.shards)} shard(s) into {out}")
    return 0


def cmd_split(a) -> int:
    from manifests.split import split_dataset

    frames = split_dataset(a.dir, tuple(a.ratios), a.seed, a.out)
    counts = frames.groupby("split")["clip_id"].nunique()
    subjects = frames.groupby("split")["subject_id"].nunique() if "subject_id" in frames else None
    for name in schema.SPLITS:
        extra = f", {int(subjects.get(name, 0))} subjects" if subjects is not None else ""
        print(f"{name}: {int(counts.get(name, 0))} clips{extra}")
    print(f"wrote {a.out or a.dir}")
    return 0


def cmd_stats(a) -> int:
    from manifests.stats import dataset_stats, format_stats

    s = dataset_stats(a.dir)
    print(json.dumps(s, indent=2) if a.json else format_stats(s))
    return 0


def cmd_adapt(a) -> int:
    from manifests.adapters import ADAPTERS

    module = importlib.import_module(ADAPTERS[a.kind])
    out = module.convert(a.src, a.out)
    print(f"wrote {out} ({a.kind}); check it with: python -m manifests validate {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from manifests.adapters import ADAPTERS

    p = argparse.ArgumentParser(prog="python -m manifests", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check a dataset against the manifest contract")
    v.add_argument("dir")
    v.add_argument("--features", help="comma-separated features whose columns must be filled: "
                                      + ", ".join(schema.FEATURES))
    v.add_argument("--no-files", action="store_true", help="do not check that image/video files exist")
    v.add_argument("--no-decode", action="store_true",
                   help="check that images exist but do not decode them (faster on trusted data)")
    v.add_argument("--limit", type=int, default=200, help="print at most N problems (0: all)")
    v.set_defaults(run=cmd_validate)

    m = sub.add_parser("merge", help="merge dataset shards into OUT")
    m.add_argument("out")
    m.add_argument("shards", nargs="+")
    m.set_defaults(run=cmd_merge)

    s = sub.add_parser("split", help="write a subject-disjoint train/val/test `split` column")
    s.add_argument("dir")
    s.add_argument("--ratios", type=float, nargs=3, default=[0.8, 0.1, 0.1], metavar=("TRAIN", "VAL", "TEST"))
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", help="write the split frames table to this CSV instead of in place")
    s.set_defaults(run=cmd_split)

    st = sub.add_parser("stats", help="counts, blink ratio, closure histogram, events, phases")
    st.add_argument("dir")
    st.add_argument("--json", action="store_true")
    st.set_defaults(run=cmd_stats)

    ad = sub.add_parser("adapt", help="convert a real dataset into a manifest dataset")
    ad.add_argument("kind", choices=sorted(ADAPTERS))
    ad.add_argument("src")
    ad.add_argument("out")
    ad.set_defaults(run=cmd_adapt)
    return p


@one_line_errors(ManifestError, ValueError, OSError)
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `python -m manifests stats DIR | head`: the reader left, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        sys.exit(0)
