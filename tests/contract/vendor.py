"""Loading the vendor fixtures that contract and conformance tests replay."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIXTURE_ROOT = Path(__file__).parent / "fixtures"


def fixture_loaders(vendor: str) -> tuple[Callable[[str], dict[str, Any]], Callable[[str], Any]]:
    """``(fixture, body)``: a whole fixture file (source, version, notes…) and just its documented body."""
    folder = FIXTURE_ROOT / vendor

    def fixture(name: str) -> dict[str, Any]:
        return json.loads((folder / name).read_text())  # type: ignore[no-any-return]

    def body(name: str) -> Any:
        return fixture(name)["body"]

    return fixture, body


def any_query(base: str, path: str) -> re.Pattern[str]:
    """Match ``base + path`` with any query string (tests assert the query where it matters)."""
    return re.compile(re.escape(base + path) + r"(\?.*)?$")
