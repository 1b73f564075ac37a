"""The collaborators of every experience API and the one guard of its routes.

app.py's lifespan builds the :class:`Parts` once (the typed client of process-orders, the deployable's channel and
page size) and ``WIRING`` provides each to handlers by name. ``allowed`` is the guard every order route declares
(``allowed: NamedDependency[CarriedIdentity]``): the kernel's verified caller (401 without a valid identity token), refused
with 403 ``insufficient_scope`` (RFC 6750 §3.1) unless it is of this deployable's channel and holds the scope the
route names in its ``opt`` (``orders:read`` for reads, ``orders:write`` to place or cancel). Handlers never check
identity themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide

from services.experience.common.backends import OrdersClient
from shared.deps import Wiring
from shared.identity import Access, CarriedIdentity, Channel

READ = "orders:read"
WRITE = "orders:write"


@dataclass(frozen=True, slots=True)
class Parts:
    orders: OrdersClient
    channel: Channel
    page_size: int


WIRING = Wiring("experience", Parts)


def allowed(
    request: Request[Any, Any, Any], caller: NamedDependency[CarriedIdentity], channel: NamedDependency[Channel]
) -> CarriedIdentity:
    """The caller, if it may use this route: its channel is this deployable's, it holds the route's scope."""
    Access({channel: request.route_handler.opt["scope"]}).check(caller.identity)
    return caller


DEPENDENCIES = {**WIRING.dependencies, "allowed": Provide(allowed, sync_to_thread=False)}
