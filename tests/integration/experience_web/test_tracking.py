"""A web shopper follows the parcels of an order (issue 9): ``GET /web/v1/orders/{id}`` shows ``tracking`` (carrier,
tracking number, the carrier's track-and-trace URL, when it left) once the DC ships, one entry per parcel of a
split order, and the timeline's ``shipped`` entry names the carrier and the tracking number.

Answers are decoded with Structs written here from the documented contract, unknown fields forbidden.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

import httpx
import msgspec
import pytest

from tests.estate import ExperienceApi, TestEstate, order_body

pytestmark = pytest.mark.estate

UPS = "https://www.ups.com/track?tracknum="


class Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class Customer(Strict, kw_only=True):
    id: str
    name: str
    email: str | None = None


class Address(Strict, kw_only=True):
    name: str
    line1: str
    line2: str | None = None
    city: str
    postal_code: str
    country: str
    phone: str | None = None
    email: str | None = None


class Fulfilment(Strict, kw_only=True):
    mode: Literal["ship", "pickup"]
    ship_to: Address | None = None
    store: str | None = None
    allow_partial: bool = False


class Line(Strict, kw_only=True):
    line_id: str
    sku: str
    qty: int
    unit_price: int
    location: str | None = None


class Tracking(Strict, kw_only=True):
    carrier: str
    tracking_number: str
    url: str | None
    shipped_at: datetime


class Links(Strict, kw_only=True):
    order: str
    timeline: str
    cancel: str


class WebOrder(Strict, kw_only=True):
    id: str
    state: str
    customer: Customer
    fulfilment: Fulfilment
    lines: list[Line]
    tracking: list[Tracking]
    links: Links
    currency: str
    subtotal: int
    tax: int
    total: int
    payment_reference: str
    created_at: datetime
    updated_at: datetime
    reason: str | None = None


class WebPage(Strict, kw_only=True):
    items: list[WebOrder]
    next_cursor: str | None = None


class Entry(Strict, kw_only=True):
    at: datetime
    state: str
    system: str
    document_id: str | None = None
    correlation_id: str | None = None
    detail: str | None = None


def web_order(response: httpx.Response, status: int = 200) -> WebOrder:
    assert response.status_code == status, response.text
    return msgspec.json.decode(response.content, type=WebOrder)


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def test_a_shopper_sees_each_parcel_of_the_order_with_its_tracking(estate: TestEstate, web: ExperienceApi) -> None:
    a, b = estate.fresh_skus(2)
    estate.set_dc_stock(a, tlb=2)
    estate.set_dc_stock(b, tlb=0, zwl=2)
    shopper = f"c-{uuid.uuid4().hex[:10]}"
    me = web.caller(shopper)
    body = order_body(a, 1, customer=shopper)
    body["lines"].append({"line_id": "2", "sku": b, "qty": 1})
    body["fulfilment"]["allow_partial"] = True
    placed = web_order(web.place(body, me), 201)
    assert placed.state == "released" and placed.tracking == []

    first = estate.ship(f"{placed.id}-1", carrier="UPS")["shipment"]
    estate.wait_for(
        lambda: len(web_order(web.get(f"/orders/{placed.id}", me)).tracking) == 1, timeout=10, what="one parcel shown"
    )
    second = estate.ship(f"{placed.id}-2", carrier="Fietskoerier Utrecht")["shipment"]
    web.wait_order(placed.id, me, "state", "shipped")

    shown = web_order(web.get(f"/orders/{placed.id}", me))
    assert shown.tracking == [
        Tracking(
            carrier="UPS",
            tracking_number=first["tracking_number"],
            url=UPS + first["tracking_number"],
            shipped_at=stamp(first["dispatched_at"]),
        ),
        Tracking(
            carrier="Fietskoerier Utrecht",
            tracking_number=second["tracking_number"],
            url=None,  # a carrier without a known track-and-trace page
            shipped_at=stamp(second["dispatched_at"]),
        ),
    ]
    listed = web.get("/orders", me)
    assert listed.status_code == 200, listed.text
    (mine,) = msgspec.json.decode(listed.content, type=WebPage).items
    assert mine.tracking == shown.tracking

    timeline = web.get(f"/orders/{placed.id}/timeline", me)
    assert timeline.status_code == 200, timeline.text
    entries = msgspec.json.decode(timeline.content, type=list[Entry])
    (shipped,) = [e for e in entries if e.state == "shipped"]
    assert shipped.detail == f"shipment.dispatched: Fietskoerier Utrecht {second['tracking_number']}"
    assert any(e.detail == f"shipment.dispatched: UPS {first['tracking_number']}" for e in entries)
