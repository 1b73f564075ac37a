"""Files generated from the code (the OpenAPI documents, README's settings table): one way to write them and to
check in CI that the committed copies are current.

``main(files, ...)`` takes ``--write`` (write every file whose text differs) or ``--check`` (exit 1 naming the
stale ones and the make target that regenerates them).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path


def main(files: Callable[[], Mapping[Path, str]], *, what: str, target: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=f"Write or check {what}.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write the files whose generated text differs")
    mode.add_argument("--check", action="store_true", help="exit 1 if a committed file differs")
    args = parser.parse_args(argv)
    stale = []
    for path, text in files().items():
        if path.exists() and path.read_text() == text:
            continue
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
        else:
            stale.append(path.name)
    if stale:
        print(f"{what} out of date: {', '.join(stale)} - run `make {target}`", file=sys.stderr)
        return 1
    return 0
