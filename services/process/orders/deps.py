"""The collaborators of process-orders, built once by app.py's lifespan and provided to handlers by type.

Handlers declare what they need (``store: Store``); one ``Provide`` per collaborator reads it from the one typed
:class:`Parts` the lifespan put in the application's state. Only this module and app.py reach into that state.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State
from litestar.di import Provide

from shared.events import EventBus
from shared.idempotency import Idempotency
from shared.outbox import Outbox

from services.process.orders.recovery import RetryWorker
from services.process.orders.returns import Returns
from services.process.orders.saga import Saga
from services.process.orders.store import Store
from services.process.orders.sweep import Sweep
from services.process.orders.tracking import Facts


@dataclass(frozen=True, slots=True)
class Parts:
    bus: EventBus
    outbox: Outbox
    store: Store
    saga: Saga
    returns: Returns
    idempotency: Idempotency
    facts: Facts
    sweep: Sweep
    retry_worker: RetryWorker


def parts(state: State) -> Parts:
    found: Parts = state.orders
    return found


def store(state: State) -> Store:
    return parts(state).store


def saga(state: State) -> Saga:
    return parts(state).saga


def returns(state: State) -> Returns:
    return parts(state).returns


def idempotency(state: State) -> Idempotency:
    return parts(state).idempotency


def sweep(state: State) -> Sweep:
    return parts(state).sweep


DEPENDENCIES = {fn.__name__: Provide(fn, sync_to_thread=False) for fn in (store, saga, returns, idempotency, sweep)}
