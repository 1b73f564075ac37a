"""Pure decisions of process-orders: tax from the rate table, and where a basket is fulfilled from."""

from __future__ import annotations

import pytest

from services.process.orders import pricing, sourcing
from shared.models.orders import OrderLineRequest
from shared.problems import ProblemError


def lines(*pairs: tuple[str, int]) -> list[OrderLineRequest]:
    return [OrderLineRequest(line_id=str(n), sku=sku, qty=qty) for n, (sku, qty) in enumerate(pairs, start=1)]


def test_tax_included_prices_per_country() -> None:
    assert pricing.totals([(1210, 1)], "NL") == pricing.Totals(1210, 210, 1210)
    assert pricing.totals([(1190, 2)], "DE") == pricing.Totals(2380, 380, 2380)
    assert pricing.totals([(1200, 1)], "FR").tax == 200
    assert pricing.totals([(1000, 1)], "BE", tax_included=False) == pricing.Totals(1000, 210, 1210)
    with pytest.raises(ProblemError) as err:
        pricing.totals([(100, 1)], "US")
    assert err.value.status == 422


def test_ship_goes_to_the_dc_with_most_atp_for_the_whole_basket() -> None:
    atp = {"A": {"dc-a": 5, "dc-b": 9}, "B": {"dc-a": 5, "dc-b": 1}}
    assert sourcing.for_ship(lines(("A", 2)), atp, ["dc-a", "dc-b"], allow_partial=False) == [
        sourcing.Placement("dc-b", ["1"])
    ]
    # dc-b cannot serve B x2: the whole basket goes to dc-a.
    assert sourcing.for_ship(lines(("A", 2), ("B", 2)), atp, ["dc-a", "dc-b"], allow_partial=False) == [
        sourcing.Placement("dc-a", ["1", "2"])
    ]


def test_split_only_when_allowed_and_shortage_names_lines() -> None:
    atp = {"A": {"dc-a": 3, "dc-b": 0}, "B": {"dc-a": 0, "dc-b": 3}}
    basket = lines(("A", 2), ("B", 2))
    with pytest.raises(sourcing.Shortage) as short:
        sourcing.for_ship(basket, atp, ["dc-a", "dc-b"], allow_partial=False)
    assert {e["line_id"] for e in short.value.errors} == {"2"}
    assert sourcing.for_ship(basket, atp, ["dc-a", "dc-b"], allow_partial=True) == [
        sourcing.Placement("dc-a", ["1"]),
        sourcing.Placement("dc-b", ["2"]),
    ]
    with pytest.raises(sourcing.Shortage):
        sourcing.for_ship(lines(("A", 5)), atp, ["dc-a", "dc-b"], allow_partial=True)


def test_pickup_needs_every_line_at_the_store() -> None:
    atp = {"A": {"store-x": 1}}
    assert sourcing.for_pickup(lines(("A", 1)), atp, "store-x") == [sourcing.Placement("store-x", ["1"])]
    with pytest.raises(sourcing.Shortage) as short:
        sourcing.for_pickup(lines(("A", 1), ("A", 1)), atp, "store-x")
    assert short.value.errors[0] == {"line_id": "1", "sku": "A", "location": "store-x", "requested": 1, "available": 1}
