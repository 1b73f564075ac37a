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
from estate.public_contracts import CHANNELS, public_document
from gateway import routing

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "openapi"


def document(deployable: Deployable) -> dict[str, Any]:
    # Fixed settings keep the document stable.
    app = deployable.build({"OMNIGATE_DATA_DIR": "/nonexistent"})
    schema: dict[str, Any] = app.openapi_schema.to_schema()
    return schema


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def documents() -> dict[str, str]:
    """Every deployable's document, and the public contracts made from the experience APIs' (public_contracts)."""
    built = {d.name: document(d) for d in load_estate()}
    table = routing.load()
    public = {
        f"public-{channel}": public_document(channel, built[f"experience-{channel}"], table) for channel in CHANNELS
    }
    return {name: render(doc) for name, doc in {**built, **public}.items()}


def files() -> dict[Path, str]:
    return {OPENAPI_DIR / f"{name}.json": text for name, text in documents().items()}


def main(argv: list[str] | None = None) -> int:
    return generated.main(files, what="OpenAPI documents", target="openapi", argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
