"""One request through the gateway, as its policies see it: which route it took, who the caller is, what the
limits said and which headers the answer must carry.

The access log (the outermost layer) opens an :class:`Exchange` for every request and keeps it in a context
variable; the route's policies (authentication, limits) and the forwarding handler fill it in as the request
passes them, and the access log writes it out as one line once the answer has gone. A refusal raised by a
policy still passes out through the access log, so a 401 or a 429 carries the same headers and makes the same
log line as a forwarded answer.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from litestar.types import Scope

from gateway.access import Caller
from gateway.ratelimit import Decision
from gateway.routing import Route

ROUTE_OPT = "gateway_route"  # the key of a forwarding handler's ``opt`` that holds its routes.toml entry


@dataclass(slots=True)
class Exchange:
    """What the gateway learnt about one request; ``consumer`` is ``-`` until a credential was accepted."""

    route: Route | None = None
    caller: Caller | None = None
    consumer: str = "-"
    identity_token: str | None = None
    limit: str = "-"  # ok | refused | unlimited (counters unreachable, route open) | unavailable (closed) | -
    decisions: list[Decision] = field(default_factory=list)  # every limit counted so far, in order
    headers: dict[str, str] = field(default_factory=dict)  # added to the answer, refusals included


_current: ContextVar[Exchange | None] = ContextVar("gateway_exchange", default=None)


def begin() -> Exchange:
    exchange = Exchange()
    _current.set(exchange)
    return exchange


def current() -> Exchange:
    """The exchange of the request being served (one is always open inside the gateway's access log)."""
    exchange = _current.get()
    if exchange is None:
        raise RuntimeError("no gateway exchange is open: the access log layer must wrap the gateway")
    return exchange


def enter(scope: Scope) -> tuple[Exchange, Route]:
    """The open exchange and the routes.toml entry of the forwarding handler serving ``scope`` (recorded on the
    exchange for the access log)."""
    entry = scope["route_handler"].opt.get(ROUTE_OPT)
    if not isinstance(entry, Route):
        raise RuntimeError(f"{scope['path']}: the handler carries no gateway route")
    opened = current()
    opened.route = entry
    return opened, entry
