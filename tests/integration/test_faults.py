"""Faults staged per route on a sandbox surface in the system API as problems naming the upstream."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from services.sandbox.common.catalogue import generate
from tests.estate import TestEstate, assert_problem

pytestmark = pytest.mark.estate


@pytest.fixture
def skus(estate: TestEstate) -> tuple[str, str]:
    s = estate.settings
    products = generate(s.seed, s.seed_skus, s.seed_stores, s.seed_dcs).products
    return products[11].sku, products[12].sku


@pytest.fixture
def wms_sandbox(estate: TestEstate) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=estate.url("sandbox-wms"), timeout=10) as client:
        yield client
        client.delete("/_faults")
        estate.wait_until_every_worker_answers("system-wms", "/stock?limit=1")


def test_error_rate_on_one_route_is_a_502_naming_the_upstream_and_spares_other_routes(
    estate: TestEstate, wms_sandbox: httpx.Client, skus: tuple[str, str]
) -> None:
    faulty, healthy = skus
    fault = {"route": f"/api/v1/stock/{faulty}", "error_rate": 1.0}
    assert wms_sandbox.put("/_faults", json=fault).status_code == 200
    assert httpx.get(f"{estate.url('system-wms')}/stock/{healthy}").status_code == 200
    problem = assert_problem(httpx.get(f"{estate.url('system-wms')}/stock/{faulty}"), 502, "upstream-error")
    assert problem["upstream"] == "wms"


def test_latency_beyond_the_timeout_is_a_504_within_the_retry_budget(
    estate: TestEstate, wms_sandbox: httpx.Client, skus: tuple[str, str]
) -> None:
    faulty, _ = skus
    settings = estate.settings
    fault = {"route": f"/api/v1/stock/{faulty}", "latency_ms": int(settings.http_timeout_s * 1000) + 1500}
    assert wms_sandbox.put("/_faults", json=fault).status_code == 200
    started = time.monotonic()
    response = httpx.get(f"{estate.url('system-wms')}/stock/{faulty}", timeout=30)
    elapsed = time.monotonic() - started
    problem = assert_problem(response, 504, "upstream-timeout")
    assert problem["upstream"] == "wms"
    # Each attempt gives up at the timeout; a GET makes at most retry_attempts of them.
    assert elapsed < settings.retry_attempts * settings.http_timeout_s + 1.0, elapsed
