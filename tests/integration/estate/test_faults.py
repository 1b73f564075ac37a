"""Faults staged per route on a sandbox surface in the system API as problems naming the upstream."""

from __future__ import annotations

import time

import httpx
import pytest

from services.sandbox.common.catalogue import generate
from services.sandbox.common.settings import SandboxSettings
from tests.estate import TestEstate, assert_problem

pytestmark = pytest.mark.estate


@pytest.fixture
def skus(estate: TestEstate) -> tuple[str, str]:
    s = estate.settings_of(SandboxSettings)
    products = generate(s.seed, s.seed_skus, s.seed_stores, s.seed_dcs).products
    return products[11].sku, products[12].sku


def inventory_id(estate: TestEstate, sku: str) -> int:
    """ShipBob's inventory id of ``sku`` (the sandbox's own table): the id in the path of that SKU's levels."""
    ((found,),) = estate.sql("sandbox-wms", "SELECT id FROM inventory WHERE sku = ?", (sku,))
    return int(found)


def test_error_rate_on_one_route_is_a_502_naming_the_upstream_and_spares_other_routes(
    estate: TestEstate, wms_sandbox: httpx.Client, skus: tuple[str, str]
) -> None:
    faulty, healthy = skus
    fault = {"route": f"/2026-01/inventory-level/{inventory_id(estate, faulty)}/", "error_rate": 1.0}
    assert wms_sandbox.put("/_faults", json=fault).status_code == 200
    assert httpx.get(f"{estate.url('system-wms')}/stock/{healthy}").status_code == 200
    problem = assert_problem(httpx.get(f"{estate.url('system-wms')}/stock/{faulty}"), 502, "upstream-error")
    assert problem["upstream"] == "wms"


def test_latency_beyond_the_timeout_is_a_504_within_the_retry_budget(
    estate: TestEstate, wms_sandbox: httpx.Client, skus: tuple[str, str]
) -> None:
    faulty, _ = skus
    settings = estate.settings
    fault = {
        "route": f"/2026-01/inventory-level/{inventory_id(estate, faulty)}/",
        "latency_ms": int(settings.http_timeout_s * 1000) + 1500,
    }
    assert wms_sandbox.put("/_faults", json=fault).status_code == 200
    started = time.monotonic()
    response = httpx.get(f"{estate.url('system-wms')}/stock/{faulty}", timeout=30)
    elapsed = time.monotonic() - started
    problem = assert_problem(response, 504, "upstream-timeout")
    assert problem["upstream"] == "wms"
    # Each attempt gives up at the timeout; a GET makes at most retry_attempts of them.
    assert elapsed < settings.retry_attempts * settings.http_timeout_s + 1.0, elapsed


# --- faults after the back-end has committed (the unknown-outcome cases of DESIGN §4) -----------------------


def _partners(estate: TestEstate, ref: str) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{estate.db_path('sandbox-erp')}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM res_partner WHERE ref = ?", (ref,)).fetchone()[0])
    finally:
        conn.close()


def _create_partner(client: httpx.Client, ref: str) -> httpx.Response:
    return client.post("/json/2/res.partner/create", json={"vals_list": [{"name": "Fault Test", "ref": ref}]})


@pytest.mark.parametrize(
    "fault",
    [
        {"error_rate": 1.0},
        {"reset": True},
        {"latency_ms": 800},
    ],
)
def test_a_fault_after_commit_loses_the_answer_but_not_the_document(
    estate: TestEstate, erp_sandbox: httpx.Client, fault: dict[str, object]
) -> None:
    ref = f"fault-after-{time.monotonic_ns()}"
    spec = {"route": "/json/2/res.partner/create", "method": "POST", "when": "after", "times": 1, **fault}
    assert erp_sandbox.put("/_faults", json=spec).status_code == 200
    started = time.monotonic()
    try:
        answer: httpx.Response | None = _create_partner(erp_sandbox, ref)
    except httpx.RemoteProtocolError:
        answer = None  # the connection was cut mid-body
    if "reset" in fault:
        assert answer is None and time.monotonic() - started < 5, "a reset cuts the connection at once"
    elif "error_rate" in fault:
        assert answer is not None and answer.status_code == 500
        assert answer.json()["name"].startswith("werkzeug.exceptions")  # the vendor's error shape
    else:
        assert answer is not None and answer.status_code == 200 and time.monotonic() - started >= 0.8
    assert _partners(estate, ref) == 1, "the back-end committed before the answer was lost"
    # times=1: the fault struck once and is gone; the next create answers normally.
    assert erp_sandbox.get("/_faults").json() == []
    assert _create_partner(erp_sandbox, ref + "-2").status_code == 200


def test_a_delay_before_past_the_commit_limit_drops_the_request(estate: TestEstate, erp_sandbox: httpx.Client) -> None:
    ref = f"fault-dropped-{time.monotonic_ns()}"
    limit_ms = int(estate.settings.upstream_commit_limit_s * 1000)
    spec = {"route": "/json/2/res.partner/create", "latency_ms": limit_ms + 1000, "times": 1}
    assert erp_sandbox.put("/_faults", json=spec).status_code == 200
    answer = _create_partner(erp_sandbox, ref)
    assert answer.status_code == 504
    assert _partners(estate, ref) == 0, "a request the back-end never started is never executed"


def test_fault_specs_are_validated(erp_sandbox: httpx.Client) -> None:
    for bad in (
        {"when": "after", "outage": True},
        {"reset": True},
        {"times": 0},
        {"method": "BREW"},
        {"when": "later"},
        {"latency_ms": -1},
    ):
        assert_problem(erp_sandbox.put("/_faults", json=bad), 400)
