"""The collaborators of every experience API and the one guard of its routes.

app.py's lifespan builds the :class:`Parts` once (the typed clients of process-orders, process-availability and
system-erp, the deployable's channel and page size) and ``WIRING`` provides each to handlers by name. ``allowed``
is the guard every route declares (``allowed: NamedDependency[CarriedIdentity]``): the kernel's verified caller
(401 without a valid identity token), refused with 403 ``insufficient_scope`` (RFC 6750 §3.1) unless it is of this
deployable's channel and holds every scope the route names in its ``opt`` (``orders:read`` for reads,
``orders:write`` to place or cancel, ``returns:write`` to open a return, ``catalog:read`` and ``availability:read``
for a product with its availability, ``availability:read`` for bulk availability). Handlers never check identity
themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide

from services.experience.common.backends import AvailabilityClient, CatalogClient, OrdersClient
from shared.deps import Wiring
from shared.identity import Access, CarriedIdentity, Channel

READ = "orders:read"
WRITE = "orders:write"
RETURNS = "returns:write"
CATALOG = "catalog:read"
AVAILABILITY = "availability:read"


@dataclass(frozen=True, slots=True)
class Parts:
    orders: OrdersClient
    catalog: CatalogClient
    availability: AvailabilityClient
    channel: Channel
    page_size: int


WIRING = Wiring("experience", Parts)


def allowed(
    request: Request[Any, Any, Any], caller: NamedDependency[CarriedIdentity], channel: NamedDependency[Channel]
) -> CarriedIdentity:
    """The caller, if it may use this route: its channel is this deployable's, it holds the route's scope (``opt``
    ``scope``: one scope, or a tuple of scopes that are all needed)."""
    wanted: str | tuple[str, ...] = request.route_handler.opt["scope"]
    for scope in (wanted,) if isinstance(wanted, str) else wanted:
        Access({channel: scope}).check(caller.identity)
    return caller


DEPENDENCIES = {**WIRING.dependencies, "allowed": Provide(allowed, sync_to_thread=False)}
