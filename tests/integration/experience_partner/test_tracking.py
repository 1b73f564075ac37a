"""A partner follows the parcels of its order (issue 9): ``GET /partner/v1/orders/{id}`` shows ``tracking`` in the
partner contract's snake_case (carrier, tracking_number, url, shipped_at) once the DC ships, the listing shows the
same, and the status sync's ``shipped`` event names the carrier and the tracking number. Another partner sees none
of it.

Answers are decoded with Structs written here from the documented contract, unknown fields forbidden.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import httpx
import msgspec
import pytest

from tests.estate import ExperienceApi, TestEstate, assert_problem, order_body

pytestmark = pytest.mark.estate

DPD = "https://tracking.dpd.de/status/en_US/parcel/"


class Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class PartnerLine(Strict, kw_only=True):
    line_id: str
    sku: str
    qty: int
    unit_price: int
    location: str | None = None


class PartnerTracking(Strict, kw_only=True):
    carrier: str
    tracking_number: str
    url: str | None
    shipped_at: datetime


class PartnerOrder(Strict, kw_only=True):
    id: str
    status: str
    customer_id: str
    fulfilment: Literal["ship", "pickup"]
    store: str | None = None
    lines: list[PartnerLine]
    tracking: list[PartnerTracking]
    currency: str
    subtotal: int
    tax: int
    total: int
    payment_reference: str
    created_at: datetime
    updated_at: datetime
    reason: str | None = None


class PartnerPage(Strict, kw_only=True):
    items: list[PartnerOrder]
    next_cursor: str | None = None


class PartnerEvent(Strict, kw_only=True):
    at: datetime
    status: str
    detail: str | None = None


def partner_order(response: httpx.Response, status: int = 200) -> PartnerOrder:
    assert response.status_code == status, response.text
    return msgspec.json.decode(response.content, type=PartnerOrder)


def test_a_partner_follows_its_shipped_order_by_carrier_and_tracking_number(
    estate: TestEstate, partner: ExperienceApi, new_partner: Callable[[], dict[str, str]]
) -> None:
    (sku,) = estate.fresh_skus()
    estate.set_dc_stock(sku, tlb=3)
    us, them = new_partner(), new_partner()
    placed = partner_order(partner.place(order_body(sku, 2, customer="shop-5"), us), 201)
    assert placed.tracking == []
    parcel = estate.ship(placed.id, carrier="DPD")["shipment"]
    partner.wait_order(placed.id, us, "status", "shipped")

    shown = partner_order(partner.get(f"/orders/{placed.id}", us))
    number = parcel["tracking_number"]
    dispatched = datetime.fromisoformat(parcel["dispatched_at"].replace("Z", "+00:00")).astimezone(UTC)
    assert shown.tracking == [
        PartnerTracking(carrier="DPD", tracking_number=number, url=DPD + number, shipped_at=dispatched)
    ]
    listed = partner.get("/orders", us)
    assert listed.status_code == 200, listed.text
    assert [o.tracking for o in msgspec.json.decode(listed.content, type=PartnerPage).items] == [shown.tracking]
    events = partner.get(f"/orders/{placed.id}/timeline", us)
    assert events.status_code == 200, events.text
    (shipped,) = [e for e in msgspec.json.decode(events.content, type=list[PartnerEvent]) if e.status == "shipped"]
    assert shipped.detail == f"shipment.dispatched: DPD {number}"
    assert_problem(partner.get(f"/orders/{placed.id}", them), 404, "not-found")
