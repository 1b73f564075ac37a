"""process-availability's test helpers, as fixtures: ``av``, a client of process-availability that first waits
until the stock projection is built and prices are synced.

Every route of process-availability needs an identity (issue 8): ``av`` calls as an operator (``ops:test``,
``ops:*``), whom every route lets in (reads, reservations, price sync, reconciliations), unless a request
carries its own ``X-Omnigate-Identity``; the operator's token is taken for each request from the estate, which
re-mints it before it expires. ``test_identity.py`` shows who
else gets in and who does not."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shared.identity import HEADER
from tests.estate import TestEstate

OPERATOR = "ops:test"


@pytest.fixture(scope="module")
def av(estate: TestEstate) -> Iterator[httpx.Client]:
    def as_operator(request: httpx.Request) -> None:
        if HEADER not in request.headers:  # a test that passes its own identity calls as that one
            request.headers.update(estate.identity(OPERATOR))

    with httpx.Client(
        base_url=estate.url("process-availability"), timeout=15, event_hooks={"request": [as_operator]}
    ) as client:
        estate.wait_for(
            lambda: client.post("/availability/query", json={"skus": ["X"]}).status_code == 200,
            timeout=60,
            what="the stock projection is built",
        )
        estate.wait_for(lambda: client.get("/prices/X").status_code == 404, timeout=60, what="prices synced")
        yield client
