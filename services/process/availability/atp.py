"""Available-to-promise from the projection (DESIGN §4): per location, ship-to-home, pickup, with explain.

ATP per (sku, location) = max(0, on_hand − reserved − safety_stock); ship-to-home sums the locations ship orders
are fulfilled from (``stores.ships``: the DCs); ``incoming`` (in transit) is shown apart and never promised. Every term carries its
source and as_of. ``staleness_ms`` is how far behind the event streams the projection may be: the time since
the consumers last found nothing left to apply.
"""

from __future__ import annotations

from datetime import UTC, datetime

from redis.asyncio import Redis

from services.process.availability.keys import Keys
from services.process.availability.stores import ships
from shared.models.availability import SkuAvailability
from shared.models.inventory import Availability, AvailabilityTerm, Location
from shared.problems import ProblemError

Fields = dict[bytes, bytes]


class Position:
    """One (sku, location) as the projection holds it."""

    __slots__ = ("location", "on_hand", "in_transit", "safety_stock", "reserved", "as_of_ms", "reserved_ms", "source")

    def __init__(self, location: str) -> None:
        self.location = location
        self.on_hand = self.in_transit = self.safety_stock = self.reserved = 0
        self.as_of_ms = self.reserved_ms = 0
        self.source = "wms" if location.startswith("dc-") else "pos"

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety_stock)

    @property
    def last_change_ms(self) -> int:
        return max(self.as_of_ms, self.reserved_ms)


def positions(fields: Fields) -> dict[str, Position]:
    out: dict[str, Position] = {}
    for raw_field, raw_value in fields.items():
        loc, _, term = raw_field.decode().rpartition("|")
        pos = out.get(loc)
        if pos is None:
            pos = out[loc] = Position(loc)
        if term == "src":
            pos.source = raw_value.decode()
        elif term == "oh":
            pos.on_hand = int(raw_value)
        elif term == "rs":
            pos.reserved = int(raw_value)
        elif term == "ss":
            pos.safety_stock = int(raw_value)
        elif term == "it":
            pos.in_transit = int(raw_value)
        elif term == "t":
            pos.as_of_ms = int(raw_value)
        elif term == "rt":
            pos.reserved_ms = int(raw_value)
    # A position only reserved against (no count yet) is not a stocked location.
    return {loc: pos for loc, pos in out.items() if pos.as_of_ms}


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _terms(pos: Position) -> list[AvailabilityTerm]:
    as_of = _dt(pos.as_of_ms)
    return [
        AvailabilityTerm(name="on_hand", value=pos.on_hand, source=pos.source, as_of=as_of),
        AvailabilityTerm(
            name="reserved",
            value=pos.reserved,
            source="availability",
            as_of=_dt(pos.reserved_ms) if pos.reserved_ms else as_of,
        ),
        AvailabilityTerm(name="safety_stock", value=pos.safety_stock, source="config", as_of=as_of),
        AvailabilityTerm(name="in_transit", value=pos.in_transit, source=pos.source, as_of=as_of),
    ]


def location_availability(sku: str, pos: Position, staleness_ms: int, explain: bool) -> Availability:
    return Availability(
        sku=sku,
        location=pos.location,
        available=pos.available,
        incoming=pos.in_transit,
        as_of=_dt(pos.last_change_ms),
        staleness_ms=staleness_ms,
        explain=_terms(pos) if explain else None,
    )


def sku_availability(
    sku: str,
    fields: Fields,
    locations: dict[str, Location],
    *,
    staleness_ms: int,
    explain: bool = False,
    only: set[str] | None = None,
) -> SkuAvailability | None:
    """The SKU's availability, or None when the projection has never seen it."""
    held = positions(fields)
    if not held:
        return None
    shipping = [
        pos for loc, pos in held.items() if (ships(locations[loc]) if loc in locations else loc.startswith("dc-"))
    ]
    latest = max(pos.last_change_ms for pos in held.values())
    ship_terms = None
    if explain:
        ship_terms = [
            AvailabilityTerm(
                name=f"{pos.location}.available", value=pos.available, source=pos.source, as_of=_dt(pos.last_change_ms)
            )
            for pos in shipping
        ]
    ship = Availability(
        sku=sku,
        location="ship",
        available=sum(p.available for p in shipping),
        incoming=sum(p.in_transit for p in shipping),
        as_of=_dt(max((p.last_change_ms for p in shipping), default=latest)),
        staleness_ms=staleness_ms,
        explain=ship_terms,
    )
    chosen = sorted(held) if only is None else sorted(loc for loc in held if loc in only)
    return SkuAvailability(
        sku=sku,
        ship=ship,
        locations=[location_availability(sku, held[loc], staleness_ms, explain) for loc in chosen],
        as_of=_dt(latest),
    )


class AtpReader:
    """Reads SKUs in one pipelined round trip, with the freshness mark."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._built = False

    async def read(self, skus: list[str], now_ms: int) -> tuple[list[Fields], int]:
        # Decided once, before the await: a concurrent read may flip ``_built`` while this one is in flight,
        # and the shape of this pipeline's results must follow what this pipeline sent.
        check_built = not self._built
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self.keys.fresh)
            if check_built:
                pipe.exists(self.keys.built)
            for sku in skus:
                pipe.hgetall(self.keys.sku(sku))
            results = await pipe.execute()
        fresh = results[0]
        if check_built:
            if not results[1]:
                raise ProblemError("service-unavailable", "the stock projection is still being built", retry_after=1)
            self._built = True
            results = results[2:]
        else:
            results = results[1:]
        staleness = max(0, now_ms - int(fresh)) if fresh is not None else 0
        return results, staleness
