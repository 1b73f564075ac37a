"""process-orders' records and intake without Redis or back-ends: the steps keep their stored strings, the
record's guarded changes refuse what the rules refuse, the order request refuses a wrong shape, and intake
prices and sources an order from one availability answer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from services.process.orders.backends import Backends
from services.process.orders.intake import Intake, Rejected, received, request_of
from services.process.orders.records import OrderRecord, ReturnRecord, ReturnStep, Step
from services.process.orders.settings import OrdersSettings
from shared.models.availability import AvailabilityQueryResult
from shared.models.inventory import Location
from shared.models.orders import OrderRequest, OrderState
from shared.models.returns import ReturnLine
from shared.problems import ProblemError

NOW = "2025-01-01T00:00:00Z"
ADDRESS = {"name": "A", "line1": "B", "city": "C", "postal_code": "1", "country": "NL"}


def request_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer": {"id": "c-1", "name": "Anna"},
        "fulfilment": {"mode": "ship", "ship_to": ADDRESS},
        "lines": [{"line_id": "1", "sku": "A-1", "qty": 2}, {"line_id": "2", "sku": "B-1", "qty": 1}],
        "currency": "EUR",
        "payment_reference": "p",
    }
    return {**body, **changes}


def order_request(**changes: Any) -> OrderRequest:
    return msgspec.json.decode(msgspec.json.encode(request_body(**changes)), type=OrderRequest)


def record(state: OrderState = "received", mode: str = "ship", step: Step = Step.RESERVE) -> OrderRecord:
    fulfilment = {"mode": "pickup", "store": "store-a"} if mode == "pickup" else None
    found = received("web:c-1", order_request(**({"fulfilment": fulfilment} if fulfilment else {})), "o1")
    found.state = state
    found.step = step
    return found


# --- steps --------------------------------------------------------------------------------------------------


def test_steps_are_stored_as_the_strings_they_always_were() -> None:
    assert [s.value for s in Step] == [
        "reserve",
        "accept",
        "erp_order",
        "erp_confirm",
        "release",
        "compensate",
        "compensate:done",
        "done",
    ]
    assert [s.value for s in ReturnStep] == ["announce", "await_receipt", "credit", "await_close", "close", "done"]
    order = record(step=Step.COMPENSATED)
    order.compensating_from = Step.ERP_ORDER
    raw = msgspec.json.encode(order)
    assert b'"step":"compensate:done"' in raw and b'"compensating_from":"erp_order"' in raw
    back = msgspec.json.decode(raw, type=OrderRecord)
    assert back.step is Step.COMPENSATED and back.compensating_from is Step.ERP_ORDER
    assert f"{back.step}" == "compensate:done"  # log lines and reasons read as before


# --- the request's shape ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fulfilment": {"mode": "ship"}}, "ship_to"),
        ({"fulfilment": {"mode": "pickup", "ship_to": ADDRESS}}, "unknown field `ship_to`"),
        ({"fulfilment": {"mode": "pickup"}}, "store"),
    ],
)
def test_an_order_request_of_the_wrong_shape_does_not_decode(changes: dict[str, Any], message: str) -> None:
    """Each fulfilment mode names what it needs (a tagged union: the schema says it too)."""
    with pytest.raises(msgspec.ValidationError, match=message):
        order_request(**changes)


def test_duplicate_line_ids_decode_but_are_named_for_a_422() -> None:
    """A rule across items no schema can state: the request decodes, and the route refuses it with 422."""
    request = order_request(lines=[{"line_id": "1", "sku": "A-1", "qty": 1}, {"line_id": "1", "sku": "B-1", "qty": 1}])
    assert request.duplicate_line_ids() == ["1"]


def test_an_order_request_round_trips_through_its_record() -> None:
    request = order_request(fulfilment={"mode": "pickup", "store": "store-a"})
    assert request_of(received("web:c-1", request, "o1")) == request


# --- guarded changes ----------------------------------------------------------------------------------------


def test_a_ship_order_is_cancellable_until_released_a_pickup_until_collected() -> None:
    assert record("accepted").cancellable()
    assert not record("released", step=Step.DONE).cancellable()
    assert record("ready_for_pickup", mode="pickup", step=Step.DONE).cancellable()
    assert not record("picked_up", mode="pickup", step=Step.DONE).cancellable()
    assert not record("failed").cancellable()
    with pytest.raises(ProblemError) as refused:
        record("shipped", step=Step.DONE).cancel("no")
    assert refused.value.status == 409


def test_cancel_compensates_from_the_step_it_stands_at() -> None:
    order = record("confirmed", step=Step.RELEASE)
    order.attempts = 3
    order.cancel("cancelled by web:c-1")
    assert (order.goal, order.step, order.compensating_from, order.attempts) == (
        "cancelled",
        Step.COMPENSATE,
        Step.RELEASE,
        0,
    )


def test_returns_are_booked_against_what_is_left_and_unbooked_when_refused() -> None:
    order = record("accepted")
    with pytest.raises(ProblemError) as early:
        order.check_return({"1": 1})
    assert early.value.status == 409
    order.state = "delivered"
    with pytest.raises(ProblemError) as wrong:
        order.check_return({"1": 3, "9": 1})
    assert wrong.value.status == 422
    assert wrong.value.errors == [
        {"line_id": "1", "requested": 3, "returnable": 2},
        {"line_id": "9", "detail": "the order has no such line"},
    ]
    order.book_return("r1", {"1": 2})
    assert order.returned == {"1": 2} and order.returns == ["r1"]
    with pytest.raises(ProblemError):
        order.book_return("r2", {"1": 1})
    now = datetime(2025, 1, 1, tzinfo=UTC)
    ret = ReturnRecord(
        id="r1",
        order_id="o1",
        owner="web:c-1",
        state="rejected",
        lines=[ReturnLine(sku="A-1", qty=2, unit_price=100)],
        line_ids=["1"],
        location="dc-a",
        created_at=now,
        updated_at=now,
    )
    order.unbook_return(ret)
    assert order.returned == {"1": 0}


# --- intake -------------------------------------------------------------------------------------------------


def availability(
    stock: dict[str, dict[str, int]], prices: dict[str, int], currency: str = "EUR"
) -> AvailabilityQueryResult:
    return msgspec.convert(
        {
            "items": [
                {
                    "sku": sku,
                    "ship": {"sku": sku, "location": "ship", "available": 0, "as_of": NOW, "staleness_ms": 0},
                    "locations": [
                        {"sku": sku, "location": loc, "available": n, "as_of": NOW, "staleness_ms": 0}
                        for loc, n in per.items()
                    ],
                    "as_of": NOW,
                }
                for sku, per in stock.items()
            ],
            "prices": {
                "prices": [
                    {"sku": sku, "amount": amount, "currency": currency, "as_of": NOW} for sku, amount in prices.items()
                ],
                "missing": [],
            },
        },
        AvailabilityQueryResult,
    )


class FakeBackends(Backends):
    """Answers the two calls intake makes; nothing goes over HTTP."""

    def __init__(self, answer: AvailabilityQueryResult, stores: list[Location] | None = None) -> None:
        self.answer = answer
        self._stores = stores or []

    async def availability(
        self, skus: list[str], locations: list[str] | None, *, prices: bool = False
    ) -> AvailabilityQueryResult:
        return self.answer

    async def stores(self) -> list[Location]:
        return self._stores


def intake(answer: AvailabilityQueryResult, stores: list[Location] | None = None) -> Intake:
    return Intake(FakeBackends(answer, stores), OrdersSettings())


def test_intake_prices_taxes_and_splits_a_ship_order_where_the_channel_allows() -> None:
    answer = availability({"A-1": {"dc-a": 2, "dc-b": 0}, "B-1": {"dc-a": 0, "dc-b": 5}}, {"A-1": 1210, "B-1": 605})
    request = order_request(fulfilment={"mode": "ship", "ship_to": ADDRESS, "allow_partial": True})
    order = received("web:c-1", request, "o1")
    groups = asyncio.run(intake(answer).price_and_source(order, request))
    assert [(g.ref, g.location, g.line_ids) for g in groups] == [("o1-1", "dc-a", ["1"]), ("o1-2", "dc-b", ["2"])]
    assert (order.subtotal, order.tax, order.total) == (3025, 525, 3025)
    assert [(ln.unit_price, ln.location) for ln in order.lines] == [(1210, "dc-a"), (605, "dc-b")]


def test_intake_rejects_what_this_estate_cannot_take_and_keeps_what_it_priced() -> None:
    request = order_request()
    short = availability({"A-1": {"dc-a": 1}, "B-1": {"dc-a": 1}}, {"A-1": 1210, "B-1": 605})
    order = received("web:c-1", request, "o1")
    with pytest.raises(Rejected) as raised:
        asyncio.run(intake(short).price_and_source(order, request))
    assert raised.value.slug == "insufficient-stock"
    assert order.total == 3025 and order.lines[0].location is None  # priced, not sourced: as the order shows it
    dollars = availability({"A-1": {"dc-a": 9}, "B-1": {"dc-a": 9}}, {"A-1": 1, "B-1": 1}, currency="USD")
    with pytest.raises(Rejected) as raised:
        asyncio.run(intake(dollars).price_and_source(received("web:c-1", request, "o2"), request))
    assert raised.value.slug == "unprocessable" and raised.value.errors is not None
    assert {e["currency"] for e in raised.value.errors} == {"USD"}
    pickup = order_request(fulfilment={"mode": "pickup", "store": "store-nope"})
    with pytest.raises(Rejected) as raised:
        asyncio.run(intake(dollars).price_and_source(received("web:c-1", pickup, "o3"), pickup))
    assert raised.value.errors == [{"field": "fulfilment.store", "value": "store-nope", "detail": "unknown store"}]
