"""Breakers at the edge (DESIGN §5): with an experience API or the process layer below it down, the gateway's
breaker for that upstream opens after a few failures and then answers 503 problem+json with Retry-After at once,
without calling the upstream; once the upstream is back, the breaker closes by itself (after its reset time, one
trial call goes through).

Each test runs its own chain of instances (a gateway, an experience-web and, for the process layer, a
process-orders replica), so taking a layer down disturbs no other test. Breakers are per worker: the gateway
instance runs one worker, so one breaker is watched."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.estate import TestEstate, assert_problem

RESET_S = 2.0  # OMNIGATE_BREAKER_RESET_S of the test estate
FAIL_MAX = 3  # OMNIGATE_BREAKER_FAIL_MAX


@pytest.fixture(scope="module")
def chain(estate: TestEstate) -> Iterator[dict[str, str]]:
    """process-orders#brk <- experience-web#brk <- gateway#brk (one worker), beside the estate's own."""
    label = f"brk{uuid.uuid4().hex[:4]}"
    orders = estate.start_instance("process-orders", label)
    web = estate.start_instance("experience-web", label, env={"OMNIGATE_URL_PROCESS_ORDERS": orders})
    edge = estate.start_instance("gateway", label, env={"OMNIGATE_URL_EXPERIENCE_WEB": web}, workers=1)
    yield {"orders": f"process-orders#{label}", "web": f"experience-web#{label}", "web_url": web, "edge": edge}
    for name in ("gateway", "experience-web", "process-orders"):
        estate.stop_instance(name, label)


def _until_open(client: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    """Call until the gateway answers from an open breaker (a handful of calls at most)."""
    for _ in range(FAIL_MAX * 3):
        answer = client.get("/web/v1/orders", headers=headers)
        assert answer.status_code in (502, 503, 504), answer.text
        if "circuit breaker open" in answer.json().get("detail", ""):
            return answer
    raise AssertionError("the gateway's breaker for experience-web never opened")


def _recovers(estate: TestEstate, client: httpx.Client, headers: dict[str, str]) -> None:
    def passes() -> bool:
        return client.get("/web/v1/orders", headers=headers).status_code == 200

    estate.wait_for(passes, timeout=RESET_S * 5, interval=0.3, what="the breaker closes after recovery")


def test_the_process_layer_down_opens_the_edge_breaker_which_then_spares_the_experience_api(
    estate: TestEstate, chain: dict[str, str], shopper_token: Callable[..., str]
) -> None:
    headers = {"Authorization": f"Bearer {shopper_token('c-brk-1', 'web', 'orders:read')}"}
    with httpx.Client(base_url=chain["edge"], timeout=15) as client:
        assert client.get("/web/v1/orders", headers=headers).status_code == 200
        estate.pause(chain["orders"])
        try:
            opened = _until_open(client, headers)
            problem = assert_problem(opened, 503, "upstream-unavailable")
            assert problem["upstream"] == "experience-web"
            assert 1 <= int(opened.headers["retry-after"]) <= 60
            # while open, nothing reaches the experience API (it is up; only the layer below it is down)
            before = estate.served(chain["web_url"], "/web/v1/orders")
            started = time.monotonic()
            for _ in range(10):
                assert_problem(client.get("/web/v1/orders", headers=headers), 503, "upstream-unavailable")
            assert time.monotonic() - started < RESET_S, "answers from an open breaker are immediate"
            assert estate.served(chain["web_url"], "/web/v1/orders") == before
        finally:
            estate.resume(chain["orders"])
        _recovers(estate, client, headers)


def test_an_experience_api_down_opens_the_edge_breaker_which_closes_after_recovery(
    estate: TestEstate, chain: dict[str, str], shopper_token: Callable[..., str]
) -> None:
    headers = {"Authorization": f"Bearer {shopper_token('c-brk-2', 'web', 'orders:read')}"}
    with httpx.Client(base_url=chain["edge"], timeout=15) as client:
        assert client.get("/web/v1/orders", headers=headers).status_code == 200
        estate.pause(chain["web"])
        try:
            assert_problem(_until_open(client, headers), 503, "upstream-unavailable")
            started = time.monotonic()
            assert_problem(client.get("/web/v1/orders", headers=headers), 503, "upstream-unavailable")
            assert time.monotonic() - started < 0.5, "an open breaker answers at once (no connect attempt)"
        finally:
            estate.resume(chain["web"])
        # the experience API is back (its start took longer than the reset time): one trial call closes it
        _recovers(estate, client, headers)


def test_a_route_failing_for_its_own_dependency_leaves_the_other_routes_of_its_upstream_open(
    estate: TestEstate, chain: dict[str, str], shopper_token: Callable[..., str]
) -> None:
    """The ERP away: product pages fail (experience-web answers 503 for them) and their breaker opens at the edge,
    but the gateway keeps one breaker per route, so the shopper's orders are still read through the same
    experience API (a newcomer's report: the breaker for all of experience-web opened, and every web route, order
    placement included, answered 503 for the reset time)."""
    headers = {"Authorization": f"Bearer {shopper_token('c-brk-3', 'web')}"}
    skus = estate.fresh_skus(FAIL_MAX * 3)
    erp = estate.url("sandbox-erp")
    with httpx.Client(base_url=chain["edge"], timeout=15) as client:
        assert client.get("/web/v1/orders", headers=headers).status_code == 200
        assert httpx.put(erp + "/_faults", json={"outage": True}, timeout=10).status_code == 200
        try:
            for sku in skus:  # never read before: nothing kept in the cache stands in
                answer = client.get(f"/web/v1/products/{sku}", headers=headers)
                assert answer.status_code in (502, 503, 504), answer.text
                if "circuit breaker open" in answer.json().get("detail", ""):
                    break
            else:
                raise AssertionError("the edge breaker of the product route never opened")
            orders = client.get("/web/v1/orders", headers=headers)
            assert orders.status_code == 200, orders.text
        finally:
            assert httpx.delete(erp + "/_faults", timeout=10).status_code in (200, 204)

        def products_back() -> bool:
            return client.get(f"/web/v1/products/{skus[-1]}", headers=headers).status_code == 200

        estate.wait_for(products_back, timeout=RESET_S * 10, interval=0.3, what="product pages back after the ERP")
