"""Redis replies as the types the code means, in one place.

redis-py types every reply as ``bytes | str`` (the client may be built with ``decode_responses``), and stream
reads as possibly ``None``. Omnigate's clients never decode (``shared.service`` builds them), so a reply is bytes;
these helpers turn a reply into text or a stream's entries into ``(id, fields)`` pairs for either client, so the
type checker and the reader see the same thing and no call site guesses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

Reply: TypeAlias = bytes | str
Fields: TypeAlias = dict[bytes, bytes]


def text(value: Reply) -> str:
    """A reply as text (UTF-8, as Redis stores what redis-py encoded)."""
    return value if isinstance(value, str) else value.decode()


def lua_text(value: object) -> str:
    """A Lua script's reply (a bulk string, or an integer Redis made of a Lua number) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def text_or_none(value: Reply | None) -> str | None:
    return None if value is None else text(value)


def raw(value: Reply | int | float) -> bytes:
    """A reply (or a number, as Lua returns them) as bytes."""
    if isinstance(value, bytes):
        return value
    return str(value).encode() if isinstance(value, int | float) else value.encode()


def fields(value: Mapping[Reply, Reply] | None) -> Fields:
    """A stream entry's or a hash's fields as ``bytes -> bytes`` (a trimmed stream entry comes back empty)."""
    return {raw(k): raw(v) for k, v in (value or {}).items()}


def entries(reply: Iterable[tuple[Reply | None, Mapping[Reply, Reply] | None]] | None) -> list[tuple[bytes, Fields]]:
    """XRANGE / XCLAIM entries as ``(entry id, fields)``; entries without an id (never sent by Redis) are dropped."""
    return [(raw(entry_id), fields(data)) for entry_id, data in reply or () if entry_id is not None]


def autoclaimed(reply: list[object]) -> list[tuple[bytes, Fields]]:
    """XAUTOCLAIM's claimed entries (``[next id, entries, deleted ids]``; a trimmed entry has empty fields)."""
    claimed = reply[1] if len(reply) > 1 else []
    if not isinstance(claimed, list):
        raise TypeError(f"XAUTOCLAIM answered {type(claimed).__name__} where entries were expected")
    return entries(claimed)


def read_batches(reply: object) -> list[tuple[str, list[tuple[bytes, Fields]]]]:
    """XREADGROUP's answer as ``(stream, entries)`` pairs; ``None`` (nothing new within the block) is empty.

    Omnigate's clients speak RESP2 (a list of ``[stream, entries]``); a RESP3 map is refused loudly, not guessed.
    """
    if reply is None:
        return []
    if not isinstance(reply, list):
        raise TypeError(f"XREADGROUP answered {type(reply).__name__}; Omnigate's Redis clients speak RESP2")
    return [(text(stream), entries(found)) for stream, found in reply]


def members(reply: Sequence[object]) -> list[str]:
    """ZRANGE-family members (without scores) as text."""
    found: list[str] = []
    for member in reply:
        if not isinstance(member, bytes | str):
            raise TypeError(f"a sorted-set member came back as {type(member).__name__}")
        found.append(text(member))
    return found


def scored(reply: Sequence[object]) -> list[tuple[str, float]]:
    """ZRANGE-family ``WITHSCORES`` pairs as ``(member, score)``."""
    found: list[tuple[str, float]] = []
    for pair in reply:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise TypeError(f"a scored sorted-set member came back as {pair!r}")
        member, score = pair
        if not isinstance(member, bytes | str) or not isinstance(score, int | float):
            raise TypeError(f"a scored sorted-set member came back as {pair!r}")
        found.append((text(member), float(score)))
    return found
