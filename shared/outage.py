"""One warning line per outage of the state Redis, not one per failed request or background round.

When Redis is away, every request that needs it answers 503 problem+json with ``Retry-After`` and every
background round is skipped; both report here. The first report of an outage is logged as a warning (without
a traceback: an outage is expected, not a bug), then at most one reminder a minute; the first round that
succeeds again logs the recovery and how long it lasted.
"""

from __future__ import annotations

import asyncio
import logging
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("omnigate.outage")

# What a Redis client raises when the server is away, restarting or still loading its data (BusyLoadingError
# is a ConnectionError): a dependency down, answered with 503, never a bug.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
REMIND_S = 60.0


def cancelled() -> bool:
    """Whether the running task has been asked to stop.

    A loop that survives Redis errors must ask this after catching one: a cancellation that lands while
    redis-py waits (for a pooled connection, under an ``asyncio.timeout``) can come out as a Redis error, and a
    loop that simply went on would never stop - and whoever awaits its cancellation would wait forever."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


RETRY_AFTER_S = 2


class Outage:
    """One dependency's outage as the log tells it: a warning when it starts (saying what requests get meanwhile,
    ``meanwhile``), a reminder every ``REMIND_S`` while it lasts, one line when it is back; never a line per
    request. ``down(exc)`` on each failure, ``up()`` on each success (cheap while nothing is down)."""

    def __init__(self, what: str, meanwhile: str = "requests answer 503 until it is back") -> None:
        self.what = what
        self.meanwhile = meanwhile
        self.since: float | None = None
        self._warned_at = 0.0

    def down(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self.since is None:
            self.since = now
            self._warned_at = now
            log.warning("%s unavailable (%s: %s); %s", self.what, type(exc).__name__, exc, self.meanwhile)
        elif now - self._warned_at >= REMIND_S:
            self._warned_at = now
            log.warning("%s still unavailable after %.0fs (%s)", self.what, now - self.since, type(exc).__name__)

    def up(self) -> None:
        if self.since is not None:
            log.warning("%s is back after %.1fs", self.what, time.monotonic() - self.since)
            self.since = None


REDIS = Outage("the state Redis")
