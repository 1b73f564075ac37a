"""system-wms's test helpers, as fixtures: clients of system-wms and of its sandbox, and a SKU the DC stocks
(read-only: the tests that move stock take fresh SKUs from the estate)."""

from __future__ import annotations

import httpx
import pytest

from tests.estate import TestEstate


@pytest.fixture(scope="module")
def wms(estate: TestEstate) -> httpx.Client:
    return httpx.Client(base_url=estate.url("system-wms"), timeout=10)


@pytest.fixture(scope="module")
def sandbox(estate: TestEstate) -> httpx.Client:
    return httpx.Client(base_url=estate.url("sandbox-wms"), timeout=10)


@pytest.fixture(scope="module")
def sku(wms: httpx.Client) -> str:
    page = wms.get("/stock", params={"location": "dc-tlb", "limit": 5}).json()
    return page["items"][3]["sku"]  # type: ignore[no-any-return]
