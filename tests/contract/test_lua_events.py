"""Every event a Lua script builds decodes strictly into its msgspec payload struct.

Events built in Python go through msgspec on the way out; events built in Lua (cjson tables written to an
outbox in the same script as the state change) do not, so nothing but this test holds them to the contract.
The scripts run for real on a real Redis, driven the way process-availability drives them (its Projection
applies fact events, its Reservations reserve, release and expire, its Prices apply ``price.changed`` and swap
in full syncs), with a clock the test moves forward so held reservations expire without waiting. Each outbox entry is then decoded with ``forbid_unknown_fields``
on the envelope and the payload struct, and its JSON must carry every field the struct declares.

Not covered here because Lua does not build them: ``shared/lua/change.lua`` and ``shared/lua/publish.lua``
XADD events that Python encoded from an ``Event`` (order and return lifecycle events, published facts).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis

from services.process.availability.keys import Keys
from services.process.availability.prices import Prices
from services.process.availability.projection import Projection
from services.process.availability.reservations import Reservations
from services.process.availability.scripts import Scripts
from services.process.availability.settings import AvailabilitySettings
from services.process.availability.stores import Locations
from shared.clock import now_ms
from shared.events import EventBus
from shared.http import Upstreams
from shared.lease import Lease
from shared.models.availability import (
    AvailabilityChanged,
    PriceApplied,
    ReservationExpired,
    ReservationRequest,
    ReservationSet,
)
from shared.models.catalog import Price
from shared.models.events import (
    Event,
    InventoryAdjusted,
    InventoryCounted,
    PickupCompleted,
    PickupHeld,
    ReceiptReceived,
    ShipmentDispatched,
    event_payload,
)
from shared.models.fulfilment import FulfilmentLine
from shared.models.inventory import Location
from shared.outbox import Outbox
from shared.settings import from_env

ROOT = Path(__file__).resolve().parents[2]
# The event types Lua builds, and the payload struct each must decode into.
PAYLOADS: dict[str, type[msgspec.Struct]] = {
    "availability.changed": AvailabilityChanged,
    "reservation.expired": ReservationExpired,
    "price.applied": PriceApplied,
}
# Built by the price projection's scripts (price_event.lua), on the ``catalog`` domain; the rest on ``availability``.
PRICE_TYPES = {"price.applied"}
OWNER = "web:c-lua"


class StrictEvent(Event, forbid_unknown_fields=True):
    """The envelope, refusing fields it does not declare."""


def decode(raw: bytes) -> tuple[StrictEvent, msgspec.Struct]:
    """The envelope and its payload, each decoded strictly; every declared field must be spelled out."""
    envelope = msgspec.json.decode(raw, type=StrictEvent)
    payload_type = PAYLOADS[envelope.type]
    payload = msgspec.json.decode(msgspec.json.encode(envelope.payload), type=payload_type)
    spelled = msgspec.json.decode(raw)
    optional = {"correlation_id"}  # Lua has no request to correlate with
    assert set(Event.__struct_fields__) - optional <= set(spelled) <= set(Event.__struct_fields__), spelled
    assert set(spelled["payload"]) == set(payload_type.__struct_fields__), spelled["payload"]
    return envelope, payload


def lua_event_types() -> set[str]:
    """Every event type a .lua file names in a table it builds (``type = '<type>'``)."""
    found: set[str] = set()
    for path in [*(ROOT / "services").rglob("*.lua"), *(ROOT / "shared").rglob("*.lua")]:
        found.update(re.findall(r"\btype\s*=\s*'([a-z_]+\.[a-z_.]+)'", path.read_text()))
    return found


class ClockedScripts(Scripts):
    """process-availability's scripts, run at a time the test moves forward (held reservations expire)."""

    ahead_ms = 0

    async def call(self, name: str, keys: list[str], args: list[Any], *, now: int | None = None) -> Any:
        return await super().call(name, keys, args, now=now_ms() + self.ahead_ms if now is None else now)


class Availability:
    """process-availability's own collaborators on a private key prefix."""

    def __init__(self, redis: Redis, prefix: str, redis_url: str) -> None:
        settings = from_env(AvailabilitySettings, {"REDIS_URL": redis_url, "OMNIGATE_KEY_PREFIX": prefix})
        self.redis = redis
        self.keys = Keys(prefix)
        bus = EventBus(redis, prefix=prefix)
        self.outbox = Outbox(redis, bus, name="availability", prefix=prefix)
        self.scripts = ClockedScripts(redis, self.keys, self.outbox.key)
        self.locations = Locations(redis, self.keys)
        http = Upstreams(settings, service="process-availability")  # never used: no snapshot is read here
        self.projection = Projection(redis, self.keys, self.scripts, http, settings, self.locations, bus)
        self.reservations = Reservations(redis, self.keys, self.scripts, self.locations)
        self.base = datetime.now(UTC).replace(microsecond=0)
        self._facts = 0

    async def fact(self, event_type: str, key: str, payload: msgspec.Struct, *, source: str, at_s: int) -> str:
        """Apply one fact event as the projection's consumer would; returns its id."""
        self._facts += 1
        event_id = f"{source}:lua-contract:{self._facts}"
        occurred_at = self.base + timedelta(seconds=at_s)
        event = Event(
            id=event_id,
            type=event_type,
            occurred_at=occurred_at,
            source=source,
            key=key,
            payload=event_payload(payload),
        )
        await self.projection.apply(event)
        return event_id

    def at(self, seconds: int) -> datetime:
        return self.base + timedelta(seconds=seconds)

    async def reserve(self, order_id: str, lines: list[tuple[str, str, int]], **options: Any) -> ReservationSet:
        """Reserve as the API would (the request validated by its struct); returns the set as answered."""
        body = {
            "order_id": order_id,
            "owner": OWNER,
            "lines": [
                {"line_id": str(n), "sku": sku, "location": loc, "qty": qty}
                for n, (sku, loc, qty) in enumerate(lines, start=1)
            ],
            **options,
        }
        answered, _ = await self.reservations.reserve(msgspec.convert(body, ReservationRequest))
        return answered

    async def outbox_entries(self) -> list[dict[bytes, bytes]]:
        return [fields for _, fields in await self.redis.xrange(self.outbox.key)]


class ErpPrices(Prices):
    """process-availability's price projection, syncing from a catalogue the test sets instead of system-erp."""

    catalogue: list[Price]
    between_pages: Callable[[], Awaitable[None]] | None = None  # what happens while the sync reads

    async def pages(self) -> AsyncIterator[list[Price]]:
        half = len(self.catalogue) // 2  # two pages, as a real sync reads several
        yield self.catalogue[:half]
        if self.between_pages is not None:
            await self.between_pages()
        yield self.catalogue[half:]


class PriceProjection:
    """process-availability's Prices on a private key prefix, with the sync lease and the outbox it writes to."""

    def __init__(self, redis: Redis, prefix: str, redis_url: str) -> None:
        settings = from_env(AvailabilitySettings, {"REDIS_URL": redis_url, "OMNIGATE_KEY_PREFIX": prefix})
        self.redis = redis
        self.outbox = Outbox(redis, EventBus(redis, prefix=prefix), name="availability", prefix=prefix)
        http = Upstreams(settings, service="process-availability")  # never used: ErpPrices reads no ERP
        self.prices = ErpPrices(redis, Keys(prefix), http, self.outbox.key)
        self.lease = Lease(redis, "availability-prices", prefix=prefix, ttl_ms=60_000)
        self._events = 0
        self.ids: list[str] = []  # of every price.applied read so far

    async def sync(self, *catalogue: Price, meanwhile: Price | None = None) -> int:
        """One full sync of ``catalogue`` (with a ``price.changed`` of ``meanwhile`` applied after its first page
        was read); returns how many price.applied the swap wrote."""
        self.prices.catalogue = list(catalogue)
        self.prices.between_pages = None if meanwhile is None else (lambda: self.changed(meanwhile))
        assert await self.lease.acquire() is not None
        return (await self.prices.sync(self.lease)).applied

    async def changed(self, price: Price) -> None:
        """A ``price.changed`` from system-erp's feed, applied as the projection's consumer applies it."""
        self._events += 1
        await self.prices.apply_event(
            Event(
                id=f"erp:price:{self._events}",
                type="price.changed",
                occurred_at=price.as_of,
                source="erp",
                key=price.sku,
                payload=event_payload(price),
            )
        )

    async def applied(self) -> list[PriceApplied]:
        """Every price.applied in the outbox so far, each decoded strictly; the outbox is emptied."""
        out: list[PriceApplied] = []
        for entry_id, fields in await self.redis.xrange(self.outbox.key):
            assert fields[b"domain"] == b"catalog", fields
            envelope, payload = decode(fields[b"data"])
            assert isinstance(payload, PriceApplied) and envelope.type == "price.applied"
            assert envelope.key == payload.sku and envelope.source == "availability", envelope
            out.append(payload)
            self.ids.append(envelope.id)
            await self.redis.xdel(self.outbox.key, entry_id)
        return out

    async def amount(self, sku: str) -> tuple[int, datetime] | None:
        held = await self.prices.get(sku)
        return None if held is None else (held.amount, held.as_of)


def location(loc_id: str, *, ships: bool = False) -> Location:
    kind = "dc" if loc_id.startswith("dc-") else "store"
    return Location(
        id=loc_id,
        type=kind,
        name=loc_id,
        country="NL",
        ship_from_store=ships,
        pickup=kind == "store",
        source="wms" if kind == "dc" else "pos",
        source_id=loc_id.split("-", 1)[1].upper(),
    )


def lines(*pairs: tuple[str, int]) -> list[FulfilmentLine]:
    return [FulfilmentLine(sku=sku, qty=qty) for sku, qty in pairs]


async def test_every_event_lua_builds_decodes_strictly_into_its_payload(
    aredis: Redis, key_prefix: str, redis_url: str
) -> None:
    av = Availability(aredis, key_prefix, redis_url)
    await av.locations.replace([location("dc-tlb"), location("store-ams", ships=True), location("store-utr")])
    a, b = "LUA-A", "LUA-B"

    # apply.lua, every op that moves stock: count, delta, ship, hold, consume, receive.
    applied = [
        await av.fact(
            "inventory.counted",
            f"{a}@dc-tlb",
            InventoryCounted(sku=a, location="dc-tlb", on_hand=10, as_of=av.at(0)),
            source="wms",
            at_s=0,
        ),
        await av.fact(
            "inventory.counted",
            f"{b}@dc-tlb",
            InventoryCounted(sku=b, location="dc-tlb", on_hand=5, as_of=av.at(0)),
            source="wms",
            at_s=0,
        ),
        await av.fact(
            "inventory.counted",
            f"{a}@store-ams",
            InventoryCounted(sku=a, location="store-ams", on_hand=6, as_of=av.at(0)),
            source="pos",
            at_s=0,
        ),
        await av.fact(
            "inventory.adjusted",
            f"{a}@dc-tlb",
            InventoryAdjusted(sku=a, location="dc-tlb", delta=-1, reason="damaged", as_of=av.at(1)),
            source="wms",
            at_s=1,
        ),
    ]
    # reserve.lua (held), then a shipment of one of its two lines (apply.lua ship consumes that line).
    await av.reserve("o-ship", [(a, "dc-tlb", 2), (b, "dc-tlb", 1)], ttl_s=60)
    applied.append(
        await av.fact(
            "shipment.dispatched",
            "o-ship",
            ShipmentDispatched(
                shipment_ref="sh-1",
                order_ref="o-ship",
                location="dc-tlb",
                carrier="postnl",
                tracking_number="3S123",
                lines=lines((a, 2)),
            ),
            source="wms",
            at_s=2,
        )
    )
    # A pickup held off the till (hold), and one collected without a hold (consume releases its allocation).
    await av.reserve("o-held", [(a, "store-ams", 1)], allocate=True)
    applied.append(
        await av.fact(
            "pickup.held",
            "o-held",
            PickupHeld(
                task_ref="o-held",
                store="store-ams",
                lines=lines((a, 1)),
                counts=[InventoryCounted(sku=a, location="store-ams", on_hand=5, as_of=av.at(3))],
            ),
            source="pos",
            at_s=3,
        )
    )
    await av.reserve("o-collected", [(a, "store-ams", 1)], allocate=True)
    applied.append(
        await av.fact(
            "pickup.completed",
            "o-collected",
            PickupCompleted(task_ref="o-collected", store="store-ams", lines=lines((a, 1))),
            source="pos",
            at_s=4,
        )
    )
    applied.append(
        await av.fact(
            "receipt.received",
            "r-1",
            ReceiptReceived(receipt_ref="r-1", location="dc-tlb", lines=lines((b, 2))),
            source="wms",
            at_s=5,
        )
    )
    # transition.lua: release; expire (the sweeper's path, once the deadline has passed).
    await av.reserve("o-released", [(a, "dc-tlb", 1)])
    await av.reservations.transition("o-released", "release")
    av.scripts.ahead_ms += 61_000  # o-ship's deadline has passed
    assert (await av.reservations.get("o-ship")).state == "expired"
    # reserve.lua settling a set whose deadline passed (a late replay expires it before answering).
    await av.reserve("o-late", [(b, "dc-tlb", 1)], ttl_s=10)
    av.scripts.ahead_ms += 11_000
    assert (await av.reserve("o-late", [(b, "dc-tlb", 1)], ttl_s=10)).state == "expired"

    entries = await av.outbox_entries()
    assert entries and all(set(fields) == {b"domain", b"data"} for fields in entries), entries
    assert {fields[b"domain"] for fields in entries} == {b"availability"}
    decoded = [decode(fields[b"data"]) for fields in entries]

    assert {e.type for e, _ in decoded} == set(PAYLOADS) - PRICE_TYPES, "every stock and reservation type, covered"
    changed = {e.id: p for e, p in decoded if isinstance(p, AvailabilityChanged)}
    causes = {event_id.rsplit(":", 1)[0].removeprefix("availability:") for event_id in changed}
    assert set(applied) <= causes, "an availability.changed for every apply.lua op"
    for script_cause in ("reserve:o-ship:", "release:o-released:", "expire:o-ship:", "expire:o-late:"):
        assert any(c.startswith(script_cause) for c in causes), (script_cause, causes)
    for envelope, payload in decoded:
        assert envelope.source == "availability" and envelope.schema_version == 1
        if isinstance(payload, AvailabilityChanged):
            assert envelope.key == payload.sku and payload.locations
    expired = {e.key: p for e, p in decoded if isinstance(p, ReservationExpired)}
    assert set(expired) == {"o-ship", "o-late"}
    ship = expired["o-ship"]
    assert isinstance(ship, ReservationExpired) and ship.owner == OWNER
    assert [(x.line_id, x.sku, x.location, x.qty) for x in ship.lines] == [("2", b, "dc-tlb", 1)], "the shipped line"
    # The numbers are the projection's: A at dc-tlb counted 10, adjusted -1, 2 reserved then shipped.
    last_a_dc = [p for p in changed.values() if p.sku == a and any(x.location == "dc-tlb" for x in p.locations)][-1]
    assert isinstance(last_a_dc, AvailabilityChanged)
    assert {x.location: x.available for x in last_a_dc.locations}["dc-tlb"] == 7


async def test_the_strict_decode_refuses_an_unknown_or_a_missing_field(
    aredis: Redis, key_prefix: str, redis_url: str
) -> None:
    av = Availability(aredis, key_prefix, redis_url)
    await av.locations.replace([location("dc-tlb")])
    await av.fact(
        "inventory.counted",
        "LUA-C@dc-tlb",
        InventoryCounted(sku="LUA-C", location="dc-tlb", on_hand=3, as_of=av.at(0)),
        source="wms",
        at_s=0,
    )
    (fields,) = await av.outbox_entries()
    decode(fields[b"data"])
    event = msgspec.json.decode(fields[b"data"])
    for broken in (
        {**event, "surprise": 1},
        {**event, "payload": {**event["payload"], "surprise": 1}},
        {**event, "payload": {k: v for k, v in event["payload"].items() if k != "ship"}},
        {k: v for k, v in event.items() if k != "occurred_at"},
    ):
        with pytest.raises(msgspec.ValidationError):
            decode(msgspec.json.encode(broken))


def test_every_lua_event_type_has_its_payload_struct() -> None:
    assert set(PAYLOADS) == lua_event_types(), "a struct for every type a .lua file builds"


async def test_price_applied_is_written_with_every_price_change_and_only_then(
    aredis: Redis, key_prefix: str, redis_url: str
) -> None:
    pp = PriceProjection(aredis, key_prefix, redis_url)
    t0 = datetime.now(UTC).replace(microsecond=0)

    def price(sku: str, amount: int, at_s: int, *, currency: str = "EUR", tax_included: bool = True) -> Price:
        return Price(
            sku=sku, amount=amount, currency=currency, tax_included=tax_included, as_of=t0 + timedelta(seconds=at_s)
        )

    def seen(events: list[PriceApplied]) -> list[tuple[str, int, str, bool, int | None]]:
        # A sync writes its events in the order of a Redis hash: sorted by SKU here.
        return sorted((e.sku, e.amount, e.currency, e.tax_included, e.previous_amount) for e in events)

    # The first sync fills an empty projection: nothing anyone holds was made from it, nothing is published.
    assert await pp.sync(price("P-A", 1000, 0), price("P-B", 2000, 0)) == 0
    assert await pp.applied() == []

    # The ERP's event changes A: one price.applied with the previous amount, in the same script as the write.
    await pp.changed(price("P-A", 1200, 1))
    (a_up,) = await pp.applied()
    assert seen([a_up]) == [("P-A", 1200, "EUR", True, 1000)] and a_up.as_of == t0 + timedelta(seconds=1)
    assert await pp.amount("P-A") == (1200, t0 + timedelta(seconds=1))
    # The same price again: re-delivered, at a newer as_of (the ERP rewrote it unchanged), or older: nothing.
    await pp.changed(price("P-A", 1200, 1))
    await pp.changed(price("P-A", 1200, 2))
    await pp.changed(price("P-A", 900, 0))
    assert await pp.applied() == []
    assert await pp.amount("P-A") == (1200, t0 + timedelta(seconds=2)), "the newer as_of is stored all the same"

    # A sync: B changed, C is new to the projection, A is what the projection holds -> two events.
    catalogue = [price("P-A", 1200, 2), price("P-B", 2500, 3), price("P-C", 300, 3)]
    assert await pp.sync(*catalogue) == 2
    assert seen(await pp.applied()) == [("P-B", 2500, "EUR", True, 2000), ("P-C", 300, "EUR", True, None)]
    # The same sync again: nothing.
    assert await pp.sync(*catalogue) == 0
    assert await pp.applied() == []

    # A sync that read A before an event made it newer keeps the newer price and publishes nothing for A; at an
    # equal as_of the sync's figures win (tax inclusion and currency are changes too).
    await pp.changed(price("P-A", 1300, 4))
    assert seen(await pp.applied()) == [("P-A", 1300, "EUR", True, 1200)]
    stale_a = [price("P-A", 1200, 2), price("P-B", 2500, 3, tax_included=False), price("P-C", 300, 3, currency="USD")]
    assert await pp.sync(*stale_a) == 2
    assert seen(await pp.applied()) == [("P-B", 2500, "EUR", False, 2500), ("P-C", 300, "USD", True, 300)]
    assert await pp.amount("P-A") == (1300, t0 + timedelta(seconds=4))
    # The same when the event comes after the sync read A (A's page then matched the projection): the swap
    # compares what events wrote meanwhile too, and keeps the newer price.
    settled = [price("P-A", 1300, 4), price("P-B", 2500, 3, tax_included=False), price("P-C", 300, 3, currency="USD")]
    assert await pp.sync(*settled, meanwhile=price("P-A", 1400, 5)) == 0
    assert seen(await pp.applied()) == [("P-A", 1400, "EUR", True, 1300)], "the event's, and none from the sync"
    assert await pp.amount("P-A") == (1400, t0 + timedelta(seconds=5))

    # An event for a SKU new to a synced projection: previous_amount is null.
    await pp.changed(price("P-D", 4200, 6))
    assert seen(await pp.applied()) == [("P-D", 4200, "EUR", True, None)]
    assert len(set(pp.ids)) == len(pp.ids) == 8, pp.ids

    # The relay publishes them on the catalog stream like every outbox event.
    await pp.changed(price("P-D", 4100, 7))
    assert await pp.outbox.relay_once() == 1
    (published,) = await aredis.xrange(pp.outbox.bus.stream("catalog"))
    assert decode(published[1][b"data"])[0].type == "price.applied"


async def test_the_same_price_change_has_one_event_id_by_event_or_by_sync(
    aredis: Redis, key_prefix: str, redis_url: str
) -> None:
    """Two projections reach the same ERP change, one by ``price.changed``, one by a sync: one id, so whichever
    the bus sees second is a duplicate."""
    t0 = datetime.now(UTC).replace(microsecond=0)
    before = Price(sku="P-E", amount=700, currency="EUR", as_of=t0)
    after = Price(sku="P-E", amount=750, currency="EUR", as_of=t0 + timedelta(seconds=1))
    by_event = PriceProjection(aredis, key_prefix + "e:", redis_url)
    by_sync = PriceProjection(aredis, key_prefix + "s:", redis_url)
    for projection in (by_event, by_sync):
        await projection.sync(before)
    await by_event.changed(after)
    await by_sync.sync(after)
    assert seen_one(await by_event.applied()) == seen_one(await by_sync.applied()) == ("P-E", 750, 700)
    assert by_event.ids == by_sync.ids and len(by_event.ids) == 1


def seen_one(events: list[PriceApplied]) -> tuple[str, int, int | None]:
    (event,) = events
    return event.sku, event.amount, event.previous_amount
