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


def assert_same_shape(
    ours: Any, documented: Any, path: str = "$", *, extra: frozenset[str] = frozenset(), nullable: bool = False
) -> None:
    """Every field in ``ours`` exists in the documented example with the same JSON type, recursively.

    ``extra``: field names accepted although the example lacks them. ``nullable``: a null on either side is
    accepted (ShipBob's schema makes nearly every field nullable, so a null where the example has a value, or a
    value where it shows null, is within the contract); a value of another type never is.
    """
    if nullable and (ours is None or documented is None):
        return
    if isinstance(documented, dict):
        assert isinstance(ours, dict), f"{path}: expected object, got {type(ours).__name__}"
        unknown = set(ours) - set(documented) - extra
        assert not unknown, f"{path}: fields not in the documented example: {sorted(unknown)}"
        for key in set(ours) & set(documented):
            assert_same_shape(ours[key], documented[key], f"{path}.{key}", extra=extra, nullable=nullable)
    elif isinstance(documented, list):
        assert isinstance(ours, list), f"{path}: expected array"
        if documented and ours:
            example = _documented_item(documented)
            for item in ours:
                assert_same_shape(item, example, f"{path}[]", extra=extra, nullable=nullable)
    elif isinstance(documented, bool):
        assert isinstance(ours, bool), f"{path}: expected boolean"
    elif isinstance(documented, (int, float)):
        assert isinstance(ours, (int, float)) and not isinstance(ours, bool), f"{path}: expected number"
    elif isinstance(documented, str):
        assert isinstance(ours, str), f"{path}: expected string"


def _documented_item(documented: list[Any]) -> Any:
    """What each answered item is checked against: the first documented item, unless the items are objects: then
    the documented items together, which show every field an item may carry."""
    objects = [d for d in documented if isinstance(d, dict)]
    if len(objects) < len([d for d in documented if d is not None]):
        return documented[0]
    example: dict[str, Any] = {}
    for d in objects:
        example = {**d, **example}
    return example
