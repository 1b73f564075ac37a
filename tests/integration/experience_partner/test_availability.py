"""experience-partner's bulk availability end to end (issue 9): ``POST /partner/v1/availability`` answers up to
500 SKUs in one request, one entry per SKU in the order asked, with process-availability's figures and prices;
a SKU the projection never held is reported as ``unknown`` in its entry, not as a 404 of the whole request; bad
input is a 400 (a 422 for a location that does not exist) before anything reaches process-availability; and with
process-availability away the answer is a clear 503 with ``Retry-After``, never a partial one.

Answers are decoded with Structs written here from the documented contract, unknown fields forbidden, so a field
the contract does not name fails the test.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import httpx
import msgspec
import pytest

from services.sandbox.common.catalogue import generate
from services.sandbox.common.settings import SandboxSettings
from tests.estate import ExperienceApi, TestEstate, assert_problem
from tests.integration.experience_partner.conftest import PARTNER_SCOPES

pytestmark = pytest.mark.estate


# --- the documented contract, strictly ---------------------------------------------------------------------------


class Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class ShipToHome(Strict):
    available: int
    incoming: int
    as_of: datetime


class LocationStock(Strict):
    location: str
    available: int
    incoming: int
    as_of: datetime


class Price(Strict):
    amount: int
    currency: str
    tax_included: bool
    as_of: datetime


class SkuStock(Strict):
    sku: str
    status: Literal["known", "unknown"]
    ship_to_home: ShipToHome | None
    locations: list[LocationStock]
    price: Price | None


class Availability(Strict):
    items: list[SkuStock]
    staleness_ms: int


# --- helpers -------------------------------------------------------------------------------------------------------


def ask(partner: ExperienceApi, body: Any, caller: dict[str, str]) -> httpx.Response:
    return httpx.post(partner.url + "/availability", json=body, headers=caller, timeout=30)


def answer_of(response: httpx.Response) -> Availability:
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=Availability)


def seed_skus(estate: TestEstate) -> list[str]:
    """Every SKU of the sandboxes' seed catalogue (read here, never moved)."""
    s = estate.settings_of(SandboxSettings)
    return [p.sku for p in generate(s.seed, s.seed_skus, s.seed_stores, s.seed_dcs).products]


def process_availability(estate: TestEstate, path: str, body: Any = None) -> Any:
    """What process-availability itself says (read as an operator may), to compare the partner's answer with."""
    url = estate.url("process-availability") + path
    headers = estate.identity("ops:test")
    answer = httpx.post(url, json=body, headers=headers) if body is not None else httpx.get(url, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def availability_served(estate: TestEstate) -> float:
    return estate.served(estate.url("process-availability"), "/availability")


# --- the tests -----------------------------------------------------------------------------------------------------


def test_500_skus_answered_in_the_order_asked_with_unknown_ones_reported(
    estate: TestEstate, partner: ExperienceApi, new_partner: Callable[[], dict[str, str]]
) -> None:
    stocked, empty = estate.fresh_skus(2)
    estate.set_dc_stock(stocked, tlb=7, zwl=3)
    estate.set_dc_stock(empty, tlb=0, zwl=0)
    others = [sku for sku in seed_skus(estate) if sku not in (stocked, empty)][:250]
    invented = [f"ZZ-NOT-OURS-{n:06d}" for n in range(500 - 2 - len(others))]
    asked = [stocked, empty, *others, *invented]
    random.Random(9).shuffle(asked)
    assert len(asked) == len(set(asked)) == 500

    started = time.monotonic()
    found = answer_of(ask(partner, {"skus": asked}, new_partner()))
    elapsed = time.monotonic() - started
    assert [item.sku for item in found.items] == asked, "one entry per SKU, in the order asked"
    assert elapsed < 10, f"500 SKUs took {elapsed:.1f}s"
    by_sku = {item.sku: item for item in found.items}
    # Never held by the projection: reported in its own entry, nothing else made up.
    for sku in invented:
        assert by_sku[sku] == SkuStock(sku=sku, status="unknown", ship_to_home=None, locations=[], price=None)
    # The figures are process-availability's own, and so is the price.
    truth = process_availability(estate, "/availability/query", {"skus": [stocked, empty]})
    for sku in (stocked, empty):
        item, (held,) = by_sku[sku], [i for i in truth["items"] if i["sku"] == sku]
        assert item.status == "known" and item.ship_to_home is not None
        assert item.ship_to_home.available == held["ship"]["available"]
        assert {s.location: s.available for s in item.locations} == {
            a["location"]: a["available"] for a in held["locations"]
        }
    stock = {s.location: s.available for s in by_sku[stocked].locations}
    assert (stock["dc-tlb"], stock["dc-zwl"]) == (7, 3)
    assert by_sku[stocked].ship_to_home.available >= 10  # type: ignore[union-attr]  # both DCs (and stores that ship)
    assert {s.location: s.available for s in by_sku[empty].locations if s.location.startswith("dc-")} == {
        "dc-tlb": 0,
        "dc-zwl": 0,
    }
    price = process_availability(estate, f"/prices/{stocked}")
    assert by_sku[stocked].price == Price(
        amount=price["amount"],
        currency=price["currency"],
        tax_included=price["tax_included"],
        as_of=datetime.fromisoformat(price["as_of"]),
    )
    assert sum(item.status == "known" for item in found.items) >= 2
    assert found.staleness_ms >= 0

    # Only the locations asked for are listed; ship-to-home stays over every location that ships.
    only = answer_of(ask(partner, {"skus": [stocked, invented[0]], "locations": ["dc-tlb"]}, new_partner()))
    assert [(s.location, s.available) for s in only.items[0].locations] == [("dc-tlb", 7)]
    assert only.items[0].ship_to_home == by_sku[stocked].ship_to_home
    assert only.items[1].status == "unknown"


def test_bad_requests_are_refused_before_process_availability(
    estate: TestEstate, partner: ExperienceApi, new_partner: Callable[[], dict[str, str]]
) -> None:
    (sku,) = estate.fresh_skus()
    me = new_partner()
    too_many = [f"ZZ-MANY-{n:06d}" for n in range(501)]
    before = availability_served(estate)
    cases: dict[str, Any] = {
        "501 SKUs": {"skus": too_many},
        "no SKUs": {"skus": []},
        "no skus field": {"locations": ["dc-tlb"]},
        "a SKU that is no SKU": {"skus": [sku, "not a sku!"]},
        "a SKU too long": {"skus": ["A" * 65]},
        "a SKU twice": {"skus": [sku, "ZZ-ONCE", sku]},
        "a location that is no location id": {"skus": [sku], "locations": ["warehouse 7"]},
        "no locations": {"skus": [sku], "locations": []},
        "a location twice": {"skus": [sku], "locations": ["dc-tlb", "dc-tlb"]},
        "an unknown field": {"skus": [sku], "prices": True},
        "not an object": [sku],
    }
    for what, body in cases.items():
        problem = assert_problem(ask(partner, body, me), 400, "invalid-request")
        assert problem.get("detail") or problem.get("errors"), (what, problem)
    twice = assert_problem(ask(partner, {"skus": [sku, "ZZ-ONCE", sku]}, me), 400, "invalid-request")
    assert twice["errors"] == [{"field": "skus", "value": sku}], twice
    not_json = httpx.post(
        partner.url + "/availability",
        content=b"{skus:",
        headers={**me, "Content-Type": "application/json"},
        timeout=10,
    )
    assert_problem(not_json, 400, "invalid-request")
    assert availability_served(estate) == before, "a refused request reached process-availability"
    # Well-formed, but no such location: process-availability's 422, naming it, relayed.
    unknown = assert_problem(ask(partner, {"skus": [sku], "locations": ["dc-nowhere"]}, me), 422, "unprocessable")
    assert unknown["errors"] == [{"field": "locations", "value": "dc-nowhere"}], unknown


def test_callers_without_the_channel_or_the_scope_are_refused(estate: TestEstate, partner: ExperienceApi) -> None:
    (sku,) = estate.fresh_skus()
    before = availability_served(estate)
    body = {"skus": [sku]}
    assert_problem(ask(partner, body, {}), 401, "unauthorized")
    orders_only = partner.caller("p-orders-only", PARTNER_SCOPES - {"availability:read"})
    refused = ask(partner, body, orders_only)
    assert_problem(refused, 403, "forbidden")
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    web_shopper = partner.caller("c-1", frozenset({"availability:read"}), channel="web")
    assert_problem(ask(partner, body, web_shopper), 403, "forbidden")
    assert availability_served(estate) == before


def test_process_availability_away_is_a_clear_503(
    estate: TestEstate, partner: ExperienceApi, new_partner: Callable[[], dict[str, str]]
) -> None:
    (sku,) = estate.fresh_skus()
    estate.set_dc_stock(sku, tlb=2)
    me = new_partner()
    assert answer_of(ask(partner, {"skus": [sku]}, me)).items[0].status == "known"
    estate.pause("process-availability")
    try:
        away = [ask(partner, {"skus": [sku, "ZZ-AWAY"]}, me) for _ in range(4)]  # the breaker opens on the way
    finally:
        estate.resume("process-availability")
    for response in away:
        problem = assert_problem(response, 503, "upstream-unavailable")
        assert problem["upstream"] == "process-availability", problem
        assert int(response.headers["retry-after"]) >= 1
    # Back: every worker answers whole again once its breaker lets a call through.
    answered: set[str] = set()

    def every_worker_answers() -> bool:
        response = ask(partner, {"skus": [sku]}, me)
        if response.status_code == 200:
            assert answer_of(response).items[0].ship_to_home.available >= 2  # type: ignore[union-attr]
            answered.add(response.headers["x-served-by"])
        else:
            assert_problem(response, 503, "upstream-unavailable")
        return len(answered) == estate.workers("experience-partner")

    estate.wait_for(every_worker_answers, timeout=estate.settings.breaker_reset_s * 5 + 10, interval=0.1)
