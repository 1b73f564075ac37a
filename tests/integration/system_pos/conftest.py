"""system-pos's test helpers, as fixtures: ``pos`` reads the canonical stores and stock through system-pos, signs
webhooks as Square does, and reads and sets the till (sandbox-pos's own database, and Square's own API)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import httpx
import msgspec
import pytest

from services.system.pos.settings import PosSettings
from tests.estate import TestEstate


class Pos:
    """system-pos and its sandbox in the session's estate, as its tests drive them."""

    def __init__(self, estate: TestEstate) -> None:
        self.estate = estate

    def client(self, name: str = "system-pos") -> httpx.Client:
        return httpx.Client(base_url=self.estate.url(name), timeout=10)

    def stores(self) -> list[dict[str, Any]]:
        with self.client() as c:
            response = c.get("/stores")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def stocked(self, store: str, min_qty: int = 3) -> tuple[str, int]:
        """A SKU the store has at least ``min_qty`` of, from system-pos itself."""
        with self.client() as c:
            page = c.get("/stock", params={"location": store, "limit": 1000}).json()
        for position in page["items"]:
            if position["on_hand"] >= min_qty:
                return position["sku"], position["on_hand"]
        raise AssertionError(f"no SKU with {min_qty}+ units at {store}")

    def sign(self, body: bytes) -> str:
        """The ``x-square-hmacsha256-signature`` Square puts on a webhook to our URL."""
        s = self.estate.settings_of(PosSettings)
        mac = hmac.new(s.pos_webhook_signature_key.encode(), s.pos_webhook_url.encode() + body, hashlib.sha256)
        return base64.b64encode(mac.digest()).decode()

    # --- the till: sandbox-pos's own database -------------------------------------------------------------------

    @staticmethod
    def location_id(store: str) -> str:
        return store[len("store-") :].upper()

    def in_stock(self, sku: str, store: str) -> int:
        rows = self.estate.sql(
            "sandbox-pos",
            "SELECT c.quantity FROM counts c JOIN variations v ON v.id = c.catalog_object_id "
            "WHERE v.sku = ? AND c.location_id = ?",
            (sku, self.location_id(store)),
        )
        return int(rows[0][0]) if rows else 0

    def adjustments(self, ref: str, from_state: str, to_state: str) -> int:
        (count,) = self.estate.sql(
            "sandbox-pos",
            "SELECT count(*) FROM changes WHERE type = 'ADJUSTMENT' AND reference_id = ? "
            "AND from_state = ? AND to_state = ?",
            (ref, from_state, to_state),
        )[0]
        return int(count)

    def orders(self, ref: str) -> list[dict[str, Any]]:
        rows = self.estate.sql("sandbox-pos", "SELECT body FROM orders WHERE reference_id = ?", (ref,))
        return [msgspec.json.decode(row[0]) for row in rows]

    def set_in_stock(self, sku: str, store: str, qty: int) -> None:
        """A physical count at the store, through Square's own API (as a stock take would)."""
        self.estate.count_at_till(sku, store, qty)
        assert self.in_stock(sku, store) == qty


@pytest.fixture
def pos(estate: TestEstate) -> Pos:
    return Pos(estate)
