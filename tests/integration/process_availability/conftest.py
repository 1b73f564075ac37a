"""process-availability's test helpers, as fixtures: ``av``, a client of process-availability that first waits
until the stock projection is built and prices are synced."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.estate import TestEstate


@pytest.fixture(scope="module")
def av(estate: TestEstate) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=estate.url("process-availability"), timeout=15) as client:
        estate.wait_for(
            lambda: client.post("/availability/query", json={"skus": ["X"]}).status_code == 200,
            timeout=60,
            what="the stock projection is built",
        )
        estate.wait_for(lambda: client.get("/prices/X").status_code == 404, timeout=60, what="prices synced")
        yield client
