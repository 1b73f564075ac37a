"""``price.applied``: process-availability publishes it once its price projection applied a changed price
(DESIGN §5: what caches of priced answers purge on), and only then.

A price changed in the ERP sandbox reaches the projection through system-erp's ``price.changed`` feed; the
projection's script writes the new price and its ``price.applied`` to the outbox together, and the relay puts
it on the ``catalog`` stream. The same price written again (a newer ``write_date``, the same figures) and a full
sync that finds the price the projection holds publish nothing.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.estate import TestEstate

pytestmark = pytest.mark.estate


def applied(estate: TestEstate, sku: str) -> list[dict[str, Any]]:
    return [e for e in estate.events("catalog") if e["type"] == "price.applied" and e["key"] == sku]


def changed(estate: TestEstate, sku: str) -> list[dict[str, Any]]:
    return [e for e in estate.events("catalog") if e["type"] == "price.changed" and e["key"] == sku]


def set_erp_price(estate: TestEstate, sku: str, cents: int) -> None:
    response = httpx.post(
        estate.url("sandbox-erp") + "/_sim/price", json={"sku": sku, "price_cents": cents}, timeout=10
    )
    assert response.status_code == 200, response.text


def projected(av: httpx.Client, sku: str) -> dict[str, Any]:
    response = av.get(f"/prices/{sku}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def next_second() -> None:
    """Odoo stamps ``write_date`` to the second: a later write is only newer from the next second on."""
    time.sleep(1.05 - time.time() % 1)


def test_a_changed_erp_price_is_one_price_applied_and_the_same_price_again_none(
    estate: TestEstate, av: httpx.Client
) -> None:
    sku, sentinel = estate.fresh_skus(2)
    before = projected(av, sku)
    # The feed starts from the newest change it finds, so let it take its cursor before the change.
    estate.wait_for(estate.price_feed_has_cursor, timeout=10, what="the price feed has a cursor")
    assert applied(estate, sku) == []

    new_amount = before["amount"] + 1000
    set_erp_price(estate, sku, new_amount)
    after = estate.wait_for(
        lambda: (p := projected(av, sku))["amount"] == new_amount and p,
        timeout=10,
        what="the new price in the projection",
    )
    (event,) = estate.wait_for(lambda: applied(estate, sku), timeout=5, what="price.applied for the new price")
    assert event["source"] == "availability" and event["schema_version"] == 1
    assert event["payload"] == {
        "sku": sku,
        "amount": new_amount,
        "currency": after["currency"],
        "tax_included": after["tax_included"],
        "as_of": after["as_of"],
        "previous_amount": before["amount"],
    }
    # Published after the projection applied it: its time is the apply's, not the ERP's.
    assert datetime.fromisoformat(event["occurred_at"]) >= datetime.fromisoformat(after["as_of"])

    # The same price again: the ERP stamps a newer write_date, the feed publishes a second price.changed, the
    # projection takes its newer as_of, and the figures are the same: no price.applied.
    next_second()
    set_erp_price(estate, sku, new_amount)
    estate.wait_for(lambda: len(changed(estate, sku)) == 2, timeout=10, what="the second price.changed")
    again = estate.wait_for(
        lambda: (p := projected(av, sku))["as_of"] > after["as_of"] and p,
        timeout=10,
        what="the projection applied the same price at its newer as_of",
    )
    assert again["amount"] == new_amount
    # A full sync that finds the price the projection holds: no price.applied either.
    sync = av.post("/prices/sync")
    assert sync.status_code == 200 and sync.json()["state"] == "done", sync.text

    # The outbox is relayed in order: once a change made after all of the above is on the stream, anything the
    # same price or the sync had written would be there before it.
    set_erp_price(estate, sentinel, projected(av, sentinel)["amount"] + 1)
    estate.wait_for(lambda: applied(estate, sentinel), timeout=10, what="price.applied of a later change")
    assert [e["id"] for e in applied(estate, sku)] == [event["id"]], "one price.applied for one change"
