"""Wiring of ``process-orders``: the order saga over process-availability and the system APIs.

Background work in every worker: the retry worker (resumes due and stranded sagas; it is also the recovery
after a restart), the ``fulfilment`` consumer (one group for all replicas), and the outbox relay under a lease
(one replica at a time publishes ``orders`` / ``returns`` lifecycle events).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from redis.asyncio import Redis

from services.process.orders.backends import Backends
from services.process.orders.deps import WIRING, Parts
from services.process.orders.intake import Intake
from services.process.orders.recovery import RetryWorker
from services.process.orders.returns import Returns
from services.process.orders.routes import ROUTES
from services.process.orders.saga import Saga
from services.process.orders.settings import OrdersSettings
from services.process.orders.store import Store
from services.process.orders.sweep import Sweep
from services.process.orders.tracking import Facts, run_tracker
from shared.background import in_background, wait_until_set
from shared.events import EventBus
from shared.idempotency import Idempotency
from shared.lease import Lease, run_under_lease
from shared.outbox import Outbox, run_relay
from shared.service import create_service
from shared.settings import get_settings

NAME = "process-orders"


@asynccontextmanager
async def orders_state(app: Litestar) -> AsyncIterator[None]:
    settings: OrdersSettings = app.state.settings
    redis: Redis = app.state.redis
    bus = EventBus(redis, prefix=settings.key_prefix, service=NAME)
    outbox = Outbox(redis, bus, name=NAME, prefix=settings.key_prefix)
    store = Store(redis, outbox, prefix=settings.key_prefix, lock_ttl_s=settings.orders_lock_ttl_s)
    backends = Backends(app.state.http, app.state.service_signer.token)
    saga = Saga(store, backends, Intake(backends, settings), settings)
    returns = Returns(saga)
    facts = Facts(saga, returns)
    WIRING.keep(
        app.state,
        Parts(
            bus=bus,
            outbox=outbox,
            store=store,
            saga=saga,
            returns=returns,
            facts=facts,
            idempotency=Idempotency(
                redis,
                prefix=settings.key_prefix,
                service=NAME,
                ttl_s=settings.orders_idempotency_ttl_s,
                inflight_s=settings.orders_inflight_s,
            ),
            sweep=Sweep(store, saga.backends, settings),
            retry_worker=RetryWorker(saga, returns, facts),
        ),
    )
    yield


async def relay_outbox(app: Litestar) -> None:
    """Publish lifecycle events from the outbox; one replica at a time (the lease), in order."""
    settings: OrdersSettings = app.state.settings
    lease = Lease(app.state.redis, f"{NAME}-outbox", prefix=settings.key_prefix, ttl_ms=10_000)
    await run_relay(WIRING.of(app.state).outbox, lease, interval_s=settings.orders_relay_s, stop=app.state.stop)


async def sweep_documents(app: Litestar) -> None:
    """The scheduled document sweep: one replica at a time (the lease), every ``orders_sweep_s``."""
    settings: OrdersSettings = app.state.settings
    if settings.orders_sweep_s <= 0:
        return
    sweep = WIRING.of(app.state).sweep
    lease = Lease(
        app.state.redis, f"{NAME}-sweep", prefix=settings.key_prefix, ttl_ms=int(settings.orders_sweep_s * 1000)
    )
    if await wait_until_set(app.state.stop, settings.orders_sweep_s):  # the first round after one interval
        return
    await run_under_lease(lease, sweep.scheduled, interval_s=settings.orders_sweep_s, stop=app.state.stop)


def create_app(settings: OrdersSettings | None = None) -> Litestar:
    return create_service(
        NAME,
        ROUTES,
        title="Omnigate process API: orders",
        description="Order orchestration: idempotent order intake priced and sourced from the availability "
        "projection, a saga over ERP, WMS and POS (reserve, accept, sales order, release) that survives outages, "
        "crashes and replicas, cancellations, returns with credit memos, timelines, and lifecycle events on the "
        "`orders` and `returns` streams. Every route needs an internal identity token (`X-Omnigate-Identity`, "
        "minted by the gateway) and is scoped by the owner it names; document reconciliations need an operator's.",
        lifespan=[
            orders_state,
            in_background("orders-retry-worker", lambda app: WIRING.of(app.state).retry_worker.run(app.state.stop)),
            in_background(
                "orders-tracker",
                lambda app: run_tracker(
                    WIRING.of(app.state).bus, WIRING.of(app.state).facts, app.state.settings, app.state.stop
                ),
            ),
            in_background("orders-outbox-relay", relay_outbox),
            in_background("orders-document-sweep", sweep_documents),
        ],
        settings=settings or get_settings(OrdersSettings),
        dependencies=WIRING.dependencies,
        signs_as_service=True,
    )
