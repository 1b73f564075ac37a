"""Kernel codecs that take input from callers: Idempotency-Key parsing, request fingerprints, cursors."""

from __future__ import annotations

import base64
import unicodedata

import pytest

from shared import cursor
from shared.body import nfc
from shared.idempotency import fingerprint, parse_key
from shared.models.orders import OrderRequest
from shared.problems import ProblemError


@pytest.mark.parametrize(
    ("values", "key"),
    [
        (['"abc"'], "abc"),
        (["abc"], "abc"),  # a bare token names the same key
        (['"8e03978e-40d5-43e8-bc93-6894a57f9324"'], "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        (["8e03978e-40d5-43e8-bc93-6894a57f9324"], "8e03978e-40d5-43e8-bc93-6894a57f9324"),  # a bare UUID too
        (['"with space and \\"quote\\""'], 'with space and "quote"'),
        ([' "padded" '], "padded"),
        (["1"], "1"),  # a number is a bare key too (what shared.idempotency.KEY_PATTERN documents)
        (["1.5"], "1.5"),
    ],
)
def test_keys_are_sf_strings_or_bare(values: list[str], key: str) -> None:
    assert parse_key(values, required=True) == key


@pytest.mark.parametrize(
    "values",
    [
        ['"a", "b"'],  # a list
        ["?1"],
        [":aGVsbG8=:"],  # other item types
        ['"k";a=1'],  # parameters
        ['"unterminated'],
        [""],
        ['""'],
        ['"a"', '"b"'],  # two header lines
        ['"' + "x" * 256 + '"'],
        ["ключ"],
    ],
)
def test_other_keys_are_400(values: list[str]) -> None:
    with pytest.raises(ProblemError) as raised:
        parse_key(values, required=True)
    assert raised.value.status == 400


def test_a_missing_key_is_400_only_where_required() -> None:
    assert parse_key([], required=False) is None
    with pytest.raises(ProblemError):
        parse_key([], required=True)


def _order(name: str, allow_partial: bool | None = None) -> OrderRequest:
    fulfilment: dict[str, object] = {
        "mode": "ship",
        "ship_to": {"name": "A", "line1": "B", "city": "C", "postal_code": "1", "country": "NL"},
    }
    if allow_partial is not None:
        fulfilment["allow_partial"] = allow_partial
    import msgspec

    return msgspec.convert(
        {
            "customer": {"id": "c-1", "name": name},
            "fulfilment": fulfilment,
            "lines": [{"line_id": "1", "sku": "A-1", "qty": 1}],
            "currency": "EUR",
            "payment_reference": "p",
        },
        OrderRequest,
    )


def test_the_fingerprint_is_the_decoded_request() -> None:
    base = fingerprint("POST", "/orders", "web:c-1", nfc(_order(unicodedata.normalize("NFC", "José"))))
    same = fingerprint("post", "/orders", "web:c-1", nfc(_order(unicodedata.normalize("NFD", "José"), False)))
    assert base == same, "case of the method, Unicode form and spelled-out defaults do not matter"
    assert base != fingerprint("POST", "/orders", "web:c-2", nfc(_order("José")))  # another owner
    assert base != fingerprint("POST", "/orders/{order_id}/returns", "web:c-1", nfc(_order("José")))
    assert base != fingerprint("POST", "/orders", "web:c-1", nfc(_order("Josefa")))


def test_cursors_round_trip_and_refuse_what_we_did_not_issue() -> None:
    issued = cursor.encode("orders", 1764543000.123456)
    assert cursor.decode(issued, "orders", float) == (1764543000.123456,)
    assert cursor.decode(None, "orders", float) is None
    assert cursor.decode(cursor.encode("erp", 42), "erp", int) == (42,)
    forged = [
        base64.urlsafe_b64encode(raw).decode()
        for raw in (
            b"nan",
            b"inf",
            b'["orders", NaN]',
            b'["orders", 1e999]',
            b'["orders", "1"]',
            b'["orders", true]',
            b'["orders"]',
            b'["orders", 1, 2]',
            b'{"orders": 1}',
        )
    ]
    for bad in [*forged, "%%%", cursor.encode("erp", 1.5), cursor.encode("other", 1.0), "x" * 300]:
        with pytest.raises(ProblemError) as raised:
            cursor.decode(bad, "orders", float)
        assert raised.value.status == 400, bad
    with pytest.raises(ProblemError):
        cursor.decode(cursor.encode("erp", 1.5), "erp", int)
    with pytest.raises(ValueError):
        cursor.encode("orders", float("nan"))


def test_lua_lives_in_lua_files_loaded_by_the_kernel() -> None:
    """One way to carry Redis scripts: ``.lua`` files through ``shared.scripts`` (no inline Lua in Python)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    inline = [
        str(p.relative_to(root))
        for folder in ("shared", "services")
        for p in (root / folder).rglob("*.py")
        if "redis.call(" in p.read_text() or "register_script(" in p.read_text() and p.name != "scripts.py"
    ]
    assert inline == [], f"inline Lua or a loader of its own in {inline}"
