"""The one cursor codec of every cursor-paged route: opaque to callers, strict when it comes back.

A cursor is the URL-safe base64 of a small JSON array: a tag naming the listing, then the keyset position
(numbers or strings). Decoding checks the tag, the shape, the types and that every number is finite: a cursor
this API did not issue (``nan``, ``inf``, a float where an int belongs, another listing's cursor) is a 400
problem, never a 500 and never a silently wrong page.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import msgspec

from shared.problems import invalid

MAX_CURSOR = 256
Scalar = int | float | str


def encode(tag: str, *position: Scalar) -> str:
    """The cursor for the page after ``position`` of the listing ``tag``."""
    for value in position:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"a cursor position must be finite, not {value!r}")
    return base64.urlsafe_b64encode(msgspec.json.encode([tag, *position])).decode().rstrip("=")


def decode(cursor: str | None, tag: str, *shape: type[Scalar], field: str = "cursor") -> tuple[Any, ...] | None:
    """The position a cursor of listing ``tag`` carries, each value of the type at its place in ``shape``
    (``float`` also takes an int); None for no cursor. Anything else is a 400 problem naming ``field``."""
    if cursor is None or cursor == "":
        return None
    problem = invalid("the cursor is not one this API issued", errors=[{"field": field}])
    if len(cursor) > MAX_CURSOR:
        raise problem
    try:
        values = msgspec.json.decode(base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeEncodeError, msgspec.DecodeError):
        raise problem from None
    if not isinstance(values, list) or len(values) != len(shape) + 1 or values[0] != tag:
        raise problem
    position = []
    for value, kind in zip(values[1:], shape, strict=True):
        if isinstance(value, bool):
            raise problem
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, float) and not math.isfinite(value)):
            raise problem
        position.append(value)
    return tuple(position)
