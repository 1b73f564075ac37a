"""Background work that lives as long as a deployable: started after the kernel, cancelled at shutdown.

Start-up work that needs an upstream (filling id maps, say) must never hold up readiness (DESIGN §8: a down
ERP must not take its callers out of rotation), so it runs here, retried with backoff until it succeeds once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import TypeVar

from litestar import Litestar

from shared import outage
from shared.problems import ProblemError

log = logging.getLogger("omnigate.background")
T = TypeVar("T")


async def until_done(
    step: Callable[[], Awaitable[T]], *, what: str, first_delay_s: float = 0.5, max_delay_s: float = 30.0
) -> T:
    """Run ``step`` until it succeeds once. An upstream being away (a problem error) is waited out with
    exponential backoff; anything else is a bug and propagates."""
    delay = first_delay_s
    while True:
        try:
            result = await step()
            outage.REDIS.up()
            return result
        except ProblemError as exc:
            log.warning("%s not done yet (%s); retrying in %.1fs", what, exc.detail, delay)
        except outage.REDIS_DOWN as exc:
            if outage.cancelled():
                raise asyncio.CancelledError from None
            outage.REDIS.down(exc)
        await asyncio.sleep(delay)
        delay = min(max_delay_s, delay * 2)


def in_background(
    name: str, work: Callable[[Litestar], Awaitable[object]]
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A lifespan entry that runs ``work(app)`` as a task for the app's lifetime and cancels it on shutdown."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        task = asyncio.create_task(_logged(name, work(app)), name=name)
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    return lifespan


async def _logged(name: str, work: Awaitable[object]) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except outage.REDIS_DOWN as exc:
        outage.REDIS.down(exc)
        log.warning("background task %s stopped: the state Redis is away", name)
    except Exception:
        log.exception("background task %s failed", name)  # a bug: the traceback lands in the log scan


async def run_rounds(
    name: str, work: Callable[[], Awaitable[object]], *, interval_s: float, stop: asyncio.Event
) -> None:
    """The one loop of recurring background work: ``work()`` every ``interval_s`` until ``stop`` is set.

    A round that meets an upstream away (a problem error) is logged and the next round tries again; the state
    Redis away is one warning per outage (``shared.outage``); anything else is a bug, logged with its traceback,
    and the loop goes on.
    """
    while not stop.is_set():
        try:
            await work()
            outage.REDIS.up()
        except asyncio.CancelledError:
            raise
        except outage.REDIS_DOWN as exc:
            if outage.cancelled():
                raise asyncio.CancelledError from None
            outage.REDIS.down(exc)
        except ProblemError as exc:
            log.warning("%s: round skipped: %s", name, exc.detail or exc.title)
        except Exception:
            log.exception("%s: round failed", name)
        await wait_until_set(stop, interval_s)


async def wait_until_set(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait for ``event`` at most ``timeout_s``; True if it was set.

    Not ``asyncio.wait_for(event.wait(), …)``: on Python 3.11 that runs the wait as an inner task, and a
    cancellation that lands while it is cancelling that task can leave the outer one waiting forever (seen as
    a shutdown that never ends). A timeout scope cancels nothing but the caller.
    """
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True
