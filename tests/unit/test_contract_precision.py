"""What the public contracts say a valid request is, the services take, and only that (found by schemathesis over
the public documents): an Idempotency-Key is valid exactly when KEY_PATTERN says so; an integer may come as n.0 (a
JSON Schema integer); a fulfilment request names what its mode needs."""

from __future__ import annotations

import re

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.body import _integral
from shared.idempotency import KEY_PATTERN, parse_key
from shared.models.orders import OrderLineRequest, OrderRequest
from shared.problems import ProblemError

KEY = re.compile(KEY_PATTERN)


def _accepted(raw: str) -> bool:
    try:
        parse_key([raw], required=True)
    except ProblemError:
        return False
    return True


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40))
def test_a_key_is_taken_exactly_when_the_documented_pattern_matches(raw: str) -> None:
    if raw != raw.strip():  # a field's surrounding whitespace is the HTTP parser's to drop, not part of the key
        raw = raw.strip() or "x"
    assert _accepted(raw) == bool(KEY.fullmatch(raw)), raw


@given(st.from_regex(KEY, fullmatch=True))
def test_every_key_the_pattern_generates_is_taken(raw: str) -> None:
    assert _accepted(raw), raw


def test_an_integer_may_come_with_a_zero_fraction_and_only_then() -> None:
    decoder = msgspec.json.Decoder(OrderLineRequest, strict=True)
    assert _integral(b'{"line_id": "1", "sku": "A", "qty": 2.0}', decoder).qty == 2
    for qty in (b"2.5", b'"2"', b"true"):
        with pytest.raises(msgspec.ValidationError):
            _integral(b'{"line_id": "1", "sku": "A", "qty": ' + qty + b"}", decoder)


def test_a_fulfilment_request_names_what_its_mode_needs() -> None:
    base = {
        "customer": {"id": "c-1", "name": "A"},
        "lines": [{"line_id": "1", "sku": "A", "qty": 1}],
        "currency": "EUR",
        "payment_reference": "p",
    }
    address = {"name": "A", "line1": "Dam 1", "city": "Amsterdam", "postal_code": "1012", "country": "NL"}
    ok = msgspec.convert({**base, "fulfilment": {"mode": "ship", "ship_to": address}}, OrderRequest)
    assert ok.fulfilment.canonical().ship_to is not None
    assert msgspec.convert({**base, "fulfilment": {"mode": "pickup", "store": "store-1"}}, OrderRequest)
    for wrong in ({"mode": "ship"}, {"mode": "pickup"}, {"mode": "ship", "ship_to": address, "store": "store-1"}):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert({**base, "fulfilment": wrong}, OrderRequest)
    twice = msgspec.convert(
        {**base, "fulfilment": {"mode": "pickup", "store": "store-1"}, "lines": [base["lines"][0]] * 2}, OrderRequest
    )
    assert twice.duplicate_line_ids() == ["1"]
