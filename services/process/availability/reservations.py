"""Reservations (DESIGN §4): ``held`` (leased, TTL) -> ``allocated`` -> consumed by the shipment or pickup.

Every change is one Lua script (``reserve.lua``, ``transition.lua``), so check-and-reserve covers all lines of
an order atomically across workers and replicas, stock never goes negative, and a replay by (order, line)
returns the set it made. Expiry never relies on key TTLs or keyspace notifications: held sets sit in a sorted
set by deadline, which a sweeper claims under a lease; a caller touching a set past its deadline expires it
first (the same code path), so the answer never depends on when the sweeper last ran.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from redis.asyncio import Redis

from services.process.availability.keys import Keys
from services.process.availability.scripts import Scripts
from services.process.availability.stores import Locations
from shared.clock import now_ms
from shared.lease import Lease
from shared.models.availability import ReservationRequest, ReservationSet, ReservationSetState
from shared.models.common import duplicate_line_ids
from shared.models.inventory import Reservation, ReservationState
from shared.problems import ProblemError, invalid, not_found
from shared.replies import Reply
from shared.replies import lua_text as _text

SWEEP_BATCH = 200


class _Line(msgspec.Struct):
    sku: str
    loc: str
    qty: int
    state: ReservationState
    done: int = 0


_line = msgspec.json.Decoder(_Line)


def reservation_set(order_id: str, flat: list[Any]) -> ReservationSet:
    fields = {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
    expires_ms = fields.get("exp")
    expires_at = datetime.fromtimestamp(int(expires_ms) / 1000, UTC) if expires_ms else None
    lines = []
    for name, raw in sorted(fields.items()):
        if not name.startswith("l:"):
            continue
        line = _line.decode(raw)
        line_id = name[2:]
        lines.append(
            Reservation(
                id=f"{order_id}:{line_id}",
                order_id=order_id,
                line_id=line_id,
                sku=line.sku,
                location=line.loc,
                qty=line.qty,
                state=line.state,
                expires_at=expires_at if line.state == "held" else None,
            )
        )
    return ReservationSet(
        order_id=order_id,
        owner=_text(fields["owner"]),
        state=msgspec.convert(_text(fields["state"]), ReservationSetState),
        lines=lines,
        expires_at=expires_at,
    )


def _check_unique_lines(request: ReservationRequest) -> None:
    duplicates = duplicate_line_ids(request.lines)
    if duplicates:
        raise invalid(
            "line ids must be unique within an order",
            errors=[{"field": "lines[].line_id", "value": line_id, "detail": "duplicate"} for line_id in duplicates],
        )


def _reserve_args(request: ReservationRequest) -> list[str | int]:
    """``reserve.lua``'s ARGV: order, owner, ttl, line count, then (line id, sku, location, qty) per line,
    the allocate flag and the attempt."""
    args: list[str | int] = [request.order_id, request.owner, request.ttl_s * 1000, len(request.lines)]
    for line in request.lines:
        args.extend((line.line_id, line.sku, line.location, line.qty))
    args.append("1" if request.allocate else "0")
    args.append(request.attempt)
    return args


# Refusals of ``reserve.lua`` whose detail is the JSON list of the offending lines.
_LINE_REFUSALS = {
    "short": ("insufficient-stock", "not enough stock for some lines; nothing was reserved"),
    "unknown": ("unprocessable", "some lines name a SKU the projection does not know"),
}


def _reserved(order_id: str, outcome: str, detail: Reply, flat: list[Reply]) -> tuple[ReservationSet, bool]:
    """``reserve.lua``'s answer: the set and whether it reserved anything (a replay did not), or its refusal."""
    if outcome in ("created", "added", "replay"):
        return reservation_set(order_id, flat), outcome != "replay"
    if outcome in _LINE_REFUSALS:
        kind, title = _LINE_REFUSALS[outcome]
        raise ProblemError(kind, title, errors=msgspec.json.decode(detail))
    if outcome == "gone":
        if _text(detail) == "expired":
            raise ProblemError("reservation-expired", f"the reservations of order {order_id} expired")
        raise ProblemError("conflict", f"the reservations of order {order_id} are {_text(detail)}")
    raise ProblemError("conflict", _text(detail))


class Reservations:
    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts, locations: Locations) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.locations = locations

    async def reserve(self, request: ReservationRequest) -> tuple[ReservationSet, bool]:
        """Hold every line or none; returns the set and whether this call reserved anything."""
        _check_unique_lines(request)
        await self._check_locations(request)
        outcome, detail, flat = await self.scripts.call(
            "reserve", [self.keys.reservation(request.order_id)], _reserve_args(request)
        )
        return _reserved(request.order_id, _text(outcome), detail, flat)

    async def _check_locations(self, request: ReservationRequest) -> None:
        known = await self.locations.all()
        unknown_locations = [
            {"line_id": line.line_id, "location": line.location} for line in request.lines if line.location not in known
        ]
        if unknown_locations:
            raise ProblemError(
                "unprocessable", "some lines name a location that does not exist", errors=unknown_locations
            )

    async def transition(self, order_id: str, action: str, ttl_s: int = 0) -> ReservationSet:
        outcome, detail, flat = await self.scripts.call(
            "transition", [self.keys.reservation(order_id)], [action, order_id, ttl_s * 1000]
        )
        outcome = _text(outcome)
        if outcome == "missing":
            raise not_found(f"reservations of order {order_id}")
        if outcome == "expired":
            raise ProblemError("reservation-expired", f"the reservations of order {order_id} expired")
        if outcome == "conflict":
            raise ProblemError("conflict", _text(detail))
        return reservation_set(order_id, flat)

    async def get(self, order_id: str) -> ReservationSet:
        """Read a set, expiring it first if its deadline has passed (same script as the sweeper)."""
        await self.scripts.call("transition", [self.keys.reservation(order_id)], ["expire", order_id, 0])
        flat = await self.redis.hgetall(self.keys.reservation(order_id))
        if not flat:
            raise not_found(f"reservations of order {order_id}")
        return reservation_set(order_id, [x for pair in flat.items() for x in pair])

    async def sweep(self, lease: Lease) -> int:
        """Expire every held set past its deadline (run under the expiry lease); returns how many expired."""
        redis = self.redis
        expired = 0
        while True:
            due = await redis.zrangebyscore(self.keys.res_expiry, "-inf", now_ms(), start=0, num=SWEEP_BATCH)
            for member in due:
                outcome, _, _ = await self.scripts.call(
                    "transition", [self.keys.reservation(_text(member))], ["expire", _text(member), 0]
                )
                expired += _text(outcome) == "ok"
            if len(due) < SWEEP_BATCH or not await lease.fence_ok():
                return expired
