"""Export each deployable's OpenAPI document to ``openapi/<name>.json`` (``make openapi``).

Integrators read the committed files, so they must never drift from the code: ``--check`` (and a test)
fails when a committed document differs from what the app generates.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from estate.launcher import Deployable, load_estate

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "openapi"


def document(deployable: Deployable) -> dict[str, Any]:
    # Fixed settings keep the document stable.
    app = deployable.build({"OMNIGATE_DATA_DIR": "/nonexistent"})
    schema: dict[str, Any] = app.openapi_schema.to_schema()
    return schema


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def documents() -> dict[str, str]:
    return {d.name: render(document(d)) for d in load_estate()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = []
    for name, text in documents().items():
        path = OPENAPI_DIR / f"{name}.json"
        if args.write:
            OPENAPI_DIR.mkdir(exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
        elif not path.exists() or path.read_text() != text:
            stale.append(name)
    if stale:
        print(f"OpenAPI documents out of date: {', '.join(stale)} — run `make openapi`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
