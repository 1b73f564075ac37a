"""The released public contracts, and the check that a change never breaks a client built against one.

``openapi/released/public-<channel>.json`` is the public document as it was last released (the first release of
each channel is the baseline). ``--check`` compares every released document with the current one
(``openapi/public-<channel>.json``, which ``make openapi`` keeps current) and exits 1 naming each *breaking* change:
an operation, parameter, response or response field removed; a parameter or request field made required; a type,
pattern, enum or bound narrowed on input or widened on output. Additions (a new operation, an optional parameter, a
response field, since the contract tells clients to ignore fields they do not know) pass.

The classification is api-smart-diff's (https://github.com/udamir/api-smart-diff, pinned in
``estate/contract_diff/package.json``), run with the machine's Node.js; ``npm ci`` installs it on first use.
``--release`` records the current documents as released, and refuses while a change is breaking: a breaking change
is a new major version (a new path prefix, ``/web/v2``), released beside the old one, never an edit of a released one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from estate.openapi_export import OPENAPI_DIR
from estate.public_contracts import CHANNELS

RELEASED_DIR = OPENAPI_DIR / "released"
TOOL_DIR = Path(__file__).resolve().parent / "contract_diff"


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between a released document and the current one, as api-smart-diff classifies it.

    ``kind``: breaking, non-breaking, deprecated, annotation or unclassified; ``path``: the JSON path in the current
    (or, for a removal, the released) document.
    """

    kind: str
    action: str
    path: tuple[str, ...]
    description: str | None

    def __str__(self) -> str:
        where = "/".join(self.path)
        return f"{self.kind}: {self.description or self.action} (at {where})"


def _ensure_tool() -> None:
    if (TOOL_DIR / "node_modules" / "api-smart-diff").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("the contract check needs Node.js and npm on PATH (the Debian packages nodejs and npm)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=TOOL_DIR, check=True)


def compare(released: Path, current: Path) -> list[Change]:
    """Every change from ``released`` to ``current`` (two OpenAPI 3.1 documents on disk)."""
    _ensure_tool()
    node = shutil.which("node")
    if node is None:
        raise SystemExit("the contract check needs Node.js on PATH (the Debian package nodejs)")
    done = subprocess.run(
        [node, str(TOOL_DIR / "compare.mjs"), str(released), str(current)],
        check=True,
        capture_output=True,
        text=True,
    )
    return [
        Change(kind=d["type"], action=d["action"], path=tuple(d["path"]), description=d["description"])
        for d in json.loads(done.stdout)
    ]


def breaking(released: Path, current: Path) -> list[Change]:
    """The breaking changes from ``released`` to ``current``; empty when every client of ``released`` still works."""
    return [change for change in compare(released, current) if change.kind == "breaking"]


def pairs() -> list[tuple[Path, Path]]:
    """(released, current) for each channel."""
    return [(RELEASED_DIR / f"public-{ch}.json", OPENAPI_DIR / f"public-{ch}.json") for ch in CHANNELS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check or record the released public contracts.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 if a current contract breaks a released one")
    mode.add_argument("--release", action="store_true", help="record the current contracts as released")
    args = parser.parse_args(argv)
    failed = False
    for released, current in pairs():
        if not released.exists():
            if args.release:
                RELEASED_DIR.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(current, released)
                print(f"released {current.name} (first release)")
                continue
            print(f"{released.name}: no released contract; run `make openapi-release`", file=sys.stderr)
            failed = True
            continue
        found = breaking(released, current)
        for change in found:
            print(f"{current.name}: {change}", file=sys.stderr)
        failed = failed or bool(found)
        if args.release and not found:
            shutil.copyfile(current, released)
            print(f"released {current.name}")
    if failed:
        print("a released public contract would break: add, never remove or narrow (see estate/released.py)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
