"""A price changed in the ERP reaches the price projection as an event, between scheduled syncs."""

from __future__ import annotations

import httpx
import pytest

from tests.estate import TestEstate

pytestmark = pytest.mark.estate


def price_events(estate: TestEstate, sku: str) -> list[dict[str, object]]:
    return [e for e in estate.events("catalog") if e["type"] == "price.changed" and e["key"] == sku]


def test_an_erp_price_change_reaches_the_projection_as_one_event(estate: TestEstate) -> None:
    (sku,) = estate.fresh_skus()
    availability = estate.url("process-availability")
    operator = estate.identity("ops:test")  # every process-availability route needs an identity; prices: ops too
    before = estate.wait_for(
        lambda: (r := httpx.get(f"{availability}/prices/{sku}", headers=operator)).status_code == 200 and r.json(),
        timeout=30,
        what="the price projection answers",
    )
    new_price = before["amount"] + 1000
    # The feed starts from the newest change it finds, so let it take its cursor before the change.
    estate.wait_for(
        estate.price_feed_has_cursor,
        timeout=10,
        what="the price feed has a cursor",
    )
    changed = httpx.post(estate.url("sandbox-erp") + "/_sim/price", json={"sku": sku, "price_cents": new_price})
    assert changed.status_code == 200, changed.text
    # Scheduled syncs are minutes apart in tests and none is requested here: only the event can bring it.
    after = estate.wait_for(
        lambda: (r := httpx.get(f"{availability}/prices/{sku}", headers=operator).json())["amount"] == new_price and r,
        timeout=10,
        what="the new price in the projection",
    )
    assert after["as_of"] > before["as_of"]
    events = estate.wait_for(lambda: price_events(estate, sku), timeout=5, what="the price.changed event")
    assert len(events) == 1 and events[0]["payload"]["amount"] == new_price and events[0]["source"] == "erp"
