"""Export each deployable's OpenAPI document to ``openapi/<name>.json`` (``make openapi``).

Integrators read the committed files, so they must never drift from the code: ``--check`` (and a test)
fails when a committed document differs from what the app generates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from estate import generated
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


def files() -> dict[Path, str]:
    return {OPENAPI_DIR / f"{name}.json": text for name, text in documents().items()}


def main(argv: list[str] | None = None) -> int:
    return generated.main(files, what="OpenAPI documents", target="openapi", argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
