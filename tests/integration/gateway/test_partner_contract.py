"""The partner contract's new public paths through the gateway (gateway/routes.toml, issue 9): bulk availability
with a partner key costs its plan 5 units a request, the order listing's filters and the return routes are
forwarded to experience-partner, and a key of one partner never reaches another's orders or returns."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import http_sfv
import httpx

from tests.estate import TestEstate, assert_problem, order_body

PLAN = "partner-sandbox"  # limits.toml: plan "sandbox", 100/minute


def remaining(answer: httpx.Response) -> int:
    parsed = http_sfv.List()
    parsed.parse(answer.headers["ratelimit"].encode())
    (left,) = [int(member.params["r"]) for member in parsed if str(member.value) == PLAN]
    return left


def test_bulk_availability_costs_five_units_and_returns_are_forwarded(
    estate: TestEstate, gateway: httpx.Client, partner_key: Callable[..., str]
) -> None:
    (sku,) = estate.fresh_skus(1)
    estate.set_dc_stock(sku, 5)
    ours = {"X-API-Key": partner_key(f"p-gw-{uuid.uuid4().hex[:8]}", "sandbox")}
    theirs = {"X-API-Key": partner_key(f"p-gw-{uuid.uuid4().hex[:8]}", "sandbox")}

    first = gateway.post("/partner/v1/availability", json={"skus": [sku, "ZZ-GW-UNKNOWN"]}, headers=ours)
    assert first.status_code == 200, first.text
    assert [(i["sku"], i["status"]) for i in first.json()["items"]] == [(sku, "known"), ("ZZ-GW-UNKNOWN", "unknown")]
    second = gateway.post("/partner/v1/availability", json={"skus": [sku]}, headers=ours)
    assert second.status_code == 200, second.text
    assert remaining(first) - remaining(second) == 5
    read = gateway.get("/partner/v1/orders", params={"status": "shipped"}, headers=ours)
    assert read.status_code == 200 and read.json()["items"] == [], read.text
    assert remaining(second) - remaining(read) == 1
    assert_problem(gateway.get("/partner/v1/orders", params={"status": "lost"}, headers=ours), 400)

    placed = gateway.post(
        "/partner/v1/orders", json=order_body(sku, 1), headers={**ours, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    estate.ship(order_id)
    estate.deliver(order_id)
    estate.wait_for(
        lambda: gateway.get(f"/partner/v1/orders/{order_id}", headers=ours).json()["status"] == "delivered",
        timeout=15,
        what="the order delivered",
    )
    body = {"lines": [{"line_id": "1", "qty": 1}], "location": "dc-tlb"}
    key = uuid.uuid4().hex
    assert_problem(
        gateway.post(f"/partner/v1/orders/{order_id}/returns", json=body, headers={**theirs, "Idempotency-Key": key}),
        404,
        "not-found",
    )
    opened = gateway.post(f"/partner/v1/orders/{order_id}/returns", json=body, headers={**ours, "Idempotency-Key": key})
    assert opened.status_code == 201, opened.text
    return_path = f"/partner/v1/returns/{opened.json()['id']}"
    assert opened.headers["location"].endswith(return_path)
    followed = gateway.get(return_path, headers=ours)
    assert followed.status_code == 200 and followed.json()["order_id"] == order_id, followed.text
    assert_problem(gateway.get(return_path, headers=theirs), 404, "not-found")
    assert_problem(gateway.get(return_path), 401)
