"""One way for every command line tool to fail on bad input: a one-line message, exit status 2.

    @one_line_errors(ManifestError, ValueError, OSError)
    def main(argv=None) -> int: ...

Bad input (a malformed manifest, a missing file, an impossible value) is the user's to fix, so
they get `error: <file:line: what>` on stderr and status 2, not a traceback; anything else is
a bug and keeps its traceback. Ctrl-C prints `interrupted` and exits 130, as shells expect.
Standard library only (manifests must import without the trainer's dependencies).
"""
from __future__ import annotations

import functools
import sys
from typing import Callable

BAD_INPUT = 2
INTERRUPTED = 130


def one_line(error: BaseException) -> str:
    """The message of `error` on one line (multi-line messages joined with ' | ')."""
    text = str(error) or type(error).__name__
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        text = error.args[0]  # str(KeyError) adds quotes around the message
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


def one_line_errors(*expected: type) -> Callable:
    """Decorate a `main(argv) -> int`: the `expected` exception types become `error: ...` on
    stderr and exit status 2; KeyboardInterrupt becomes `interrupted` and 130."""

    def wrap(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def run(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except expected as e:
                print(f"error: {one_line(e)}", file=sys.stderr)
                return BAD_INPUT
            except KeyboardInterrupt:
                print("interrupted", file=sys.stderr)
                return INTERRUPTED
        return run

    return wrap
