"""Assembles an experience API: the service kernel, the typed clients of the layer below (process-orders,
process-availability, system-erp), the caller guard and the routes of its channel.

Each channel's ``app.py`` passes its name, its channel, its routes and its settings; everything the three
experience APIs do alike is done once here. They keep no state of their own: the state Redis is used only for
the identity keys the kernel verifies callers' tokens with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from litestar import Litestar, Router

from services.experience.common.backends import AvailabilityClient, CatalogClient, OrdersClient
from services.experience.common.deps import DEPENDENCIES, WIRING, Parts
from shared.identity import Channel
from shared.service import create_service
from shared.settings import Settings


def create_experience(
    name: str,
    channel: Channel,
    routes: Sequence[Router],
    *,
    title: str,
    description: str,
    settings: Settings,
    page_size: int,
) -> Litestar:
    """``routes``: the channel's routers (the kit's order routes, and its own); ``settings`` is the channel's own
    struct; ``page_size`` its orders per page of a listing."""

    @asynccontextmanager
    async def experience_parts(app: Litestar) -> AsyncIterator[None]:
        WIRING.keep(
            app.state,
            Parts(
                orders=OrdersClient(app.state.http),
                catalog=CatalogClient(app.state.http),
                availability=AvailabilityClient(app.state.http),
                channel=channel,
                page_size=page_size,
            ),
        )
        yield

    return create_service(
        name,
        list(routes),
        title=title,
        description=description,
        lifespan=[experience_parts],
        settings=settings,
        dependencies=DEPENDENCIES,
    )
