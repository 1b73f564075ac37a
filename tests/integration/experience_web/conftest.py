"""experience-web's test helpers, as fixtures: the API under ``/web/v1`` with callers' identity tokens
(tests/estate.py's ExperienceApi, which the three experience APIs' tests share), and a SKU's stock set in every
location at once, as the back-ends count it (:class:`Shelves`)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.estate import ExperienceApi, TestEstate


@pytest.fixture
def web(estate: TestEstate) -> ExperienceApi:
    return ExperienceApi(estate, "web")


class Shelves:
    """The estate's stores (system-pos's canonical locations) and a SKU's stock put on them."""

    def __init__(self, estate: TestEstate) -> None:
        self.estate = estate
        answer = httpx.get(estate.url("system-pos") + "/stores", timeout=10)
        assert answer.status_code == 200, answer.text
        self.stores: dict[str, dict[str, Any]] = {s["id"]: s for s in answer.json()}

    def store(self, city: str) -> str:
        """The id of the store in ``city``."""
        (found,) = [store_id for store_id, s in self.stores.items() if s["city"] == city]
        return found

    def stock(self, sku: str, *, tlb: int, zwl: int = 0, stores: dict[str, int] | None = None) -> None:
        """Count ``sku`` at both DCs and at every store (``stores`` by id; every other store 0), then wait until
        the projection shows exactly those figures."""
        self.estate.set_dc_stock(sku, tlb=tlb, zwl=zwl)
        wanted = {store_id: (stores or {}).get(store_id, 0) for store_id in self.stores}
        for store_id, qty in wanted.items():
            self.estate.count_at_till(sku, store_id, qty)
        self.estate.wait_for(
            lambda: all(self.estate.atp(sku).get(s) == q for s, q in wanted.items()),
            timeout=15,
            what=f"store stock of {sku} = {wanted}",
        )


@pytest.fixture
def shelves(estate: TestEstate) -> Shelves:
    return Shelves(estate)
