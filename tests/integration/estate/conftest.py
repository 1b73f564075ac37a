"""Helpers of the estate-wide tests, as fixtures: sandbox clients whose staged faults are cleared after the test
(and, for the WMS, until every system-wms worker answers again, so no open breaker outlives the test)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from services.sandbox.erp.settings import SandboxErpSettings
from tests.estate import TestEstate


@pytest.fixture
def wms_sandbox(estate: TestEstate) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=estate.url("sandbox-wms"), timeout=10) as client:
        yield client
        client.delete("/_faults")
        estate.wait_until_every_worker_answers("system-wms", "/stock?limit=1")


@pytest.fixture
def erp_sandbox(estate: TestEstate) -> Iterator[httpx.Client]:
    key = estate.settings_of(SandboxErpSettings).erp_api_key
    with httpx.Client(
        base_url=estate.url("sandbox-erp"), timeout=30, headers={"Authorization": f"bearer {key}"}
    ) as client:
        yield client
        client.delete("/_faults")
