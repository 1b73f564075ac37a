"""system-pos: the canonical API over the POS (Square v2): stores, store stock, pickups, returns, webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from services.system.pos import routes
from services.system.pos.connector import SquareConnector
from services.system.pos.deps import WIRING, Parts
from services.system.pos.pickups import Pickups, StoreReturns
from services.system.pos.settings import PosSettings
from services.system.pos.webhooks import square_webhook
from shared.background import in_background, until_done
from shared.events import EventBus
from shared.service import create_service
from shared.settings import get_settings

NAME = "system-pos"
UPSTREAM = "pos"


def create_app(settings: PosSettings | None = None) -> Litestar:
    settings = settings or get_settings(PosSettings)

    @asynccontextmanager
    async def pos_lifespan(app: Litestar) -> AsyncIterator[None]:
        redis = app.state.redis
        pos = SquareConnector(app.state.http[UPSTREAM], settings, redis)
        bus = EventBus(redis, prefix=settings.key_prefix, service=NAME)
        WIRING.keep(
            app.state,
            Parts(
                pos=pos,
                bus=bus,
                pickups=Pickups(pos, redis, bus, settings),
                store_returns=StoreReturns(pos, redis, settings),
            ),
        )
        yield

    async def warm_up(app: Litestar) -> None:
        # Misses are also filled on demand, so this only saves the first requests a round trip.
        await until_done(WIRING.of(app.state).pos.warm_up, what="pos id maps")

    return create_service(
        NAME,
        [*routes.ROUTES, square_webhook],
        title="System API: POS",
        description="Stores, store stock, pickup tasks and counter returns over a Square v2 POS; Square's "
        "signed webhooks become canonical inventory and fulfilment events.",
        lifespan=[pos_lifespan, in_background("pos-idmap-warm-up", warm_up)],
        settings=settings,
        dependencies=WIRING.dependencies,
    )
