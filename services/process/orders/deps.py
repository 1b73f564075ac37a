"""The collaborators of process-orders, built once by app.py's lifespan and provided to handlers by type.

Handlers declare what they need (``store: Store``); one ``Provide`` per collaborator reads it from the one typed
:class:`Parts` the lifespan put in the application's state. Only this module and app.py reach into that state.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.process.orders.recovery import RetryWorker
from services.process.orders.returns import Returns
from services.process.orders.saga import Saga
from services.process.orders.store import Store
from services.process.orders.sweep import Sweep
from services.process.orders.tracking import Facts
from shared.deps import Wiring
from shared.events import EventBus
from shared.idempotency import Idempotency
from shared.outbox import Outbox


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


WIRING = Wiring("orders", Parts)
