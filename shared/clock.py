"""The one clock and the one worker identity of every deployable.

Wall-clock time in the three shapes Omnigate stores it: an aware UTC ``datetime`` (records, events), epoch
milliseconds (Redis scores, leases, deadlines) and RFC 3339 with milliseconds (what Lua writes into events).
``worker_id`` names this process wherever work is attributed to a worker: consumer names in stream groups,
lease owners, retry workers.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def now_ms() -> int:
    return int(time.time() * 1000)


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as RFC 3339 UTC with milliseconds and ``Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rfc3339(value: datetime) -> str:
    """An aware ``datetime`` as RFC 3339 in UTC with microseconds and ``Z`` (no ``+``, which a URL's query would
    read as a space); a naive one is taken as UTC."""
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return utc.isoformat(timespec="microseconds").replace("+00:00", "Z")


def worker_id() -> str:
    """``<host>/<pid>``: unique among the running workers of an estate."""
    return f"{socket.gethostname()}/{os.getpid()}"
