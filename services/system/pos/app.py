"""system-pos: the canonical API over the POS (Square v2): stores, store stock, pickups, returns, webhooks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from litestar import Litestar

from services.system.pos import routes
from services.system.pos.connector import SquareConnector
from shared.events import EventBus
from shared.problems import ProblemError
from shared.service import create_service
from shared.settings import Settings, get_settings

NAME = "system-pos"
UPSTREAM = "pos"
log = logging.getLogger("omnigate.system.pos")


async def _warm_up(connector: SquareConnector, first_delay_s: float = 0.5, max_delay_s: float = 30.0) -> None:
    """Fill the id maps from the POS, backing off while it is away; readiness never waits for this.
    Misses are also filled on demand, so this only saves the first requests a round trip."""
    delay = first_delay_s
    while True:
        try:
            await connector.warm_up()
            return
        except ProblemError as exc:
            log.warning("pos id maps not filled yet (%s); retrying in %.1fs", exc.detail, delay)
        await asyncio.sleep(delay)
        delay = min(max_delay_s, delay * 2)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()

    @asynccontextmanager
    async def pos_lifespan(app: Litestar) -> AsyncIterator[None]:
        connector = SquareConnector(app.state.http[UPSTREAM], settings, app.state.redis)
        app.state.pos = connector
        app.state.bus = EventBus(app.state.redis, prefix=settings.key_prefix, service=NAME)
        task = asyncio.create_task(_warm_up(connector))
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    return create_service(
        NAME,
        routes.ROUTES,
        title="System API: POS",
        description="Stores, store stock, pickup tasks and counter returns over a Square v2 POS; Square's "
        "signed webhooks become canonical inventory and fulfilment events.",
        lifespan=[pos_lifespan],
        settings=settings,
    )
