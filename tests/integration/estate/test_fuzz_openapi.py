"""Property-based requests generated from the committed OpenAPI documents (what integrators read), sent to
the live estate: whatever the input, the answer is never a 5xx the upstream did not cause, and every error is
problem+json. Valid and deliberately invalid inputs both come from schemathesis's generators."""

from __future__ import annotations

import json
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck

from tests.estate import PROBLEM_MEDIA_TYPE, TestEstate

pytestmark = pytest.mark.estate
OPENAPI = Path(__file__).resolve().parents[3] / "openapi"
EXAMPLES = 15
# Upstream-named answers are the documented way a back-end failure surfaces; a 500 never is.
UPSTREAM_STATUSES = {502, 503, 504}


def schema_for(name: str) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_dict(json.loads((OPENAPI / f"{name}.json").read_text()))


def check(estate: TestEstate, name: str, case: schemathesis.Case) -> None:
    response = case.call(base_url=estate.url(name), timeout=15)
    assert response.status_code != 500, f"{case.method} {case.formatted_path}: {response.text}"
    if response.status_code >= 400:
        content_type = response.headers.get("content-type") or [""]
        assert content_type[0].startswith(PROBLEM_MEDIA_TYPE), response.text
        problem = response.json()
        assert problem["status"] == response.status_code
        if response.status_code in UPSTREAM_STATUSES:
            assert problem.get("upstream"), problem


FUZZ = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


erp = schema_for("system-erp")
wms = schema_for("system-wms")
pos = schema_for("system-pos")


@erp.parametrize()
@FUZZ
def test_system_erp_never_500(estate: TestEstate, case: schemathesis.Case) -> None:
    check(estate, "system-erp", case)


@wms.parametrize()
@FUZZ
def test_system_wms_never_500(estate: TestEstate, case: schemathesis.Case) -> None:
    check(estate, "system-wms", case)


@pos.parametrize()
@FUZZ
def test_system_pos_never_500(estate: TestEstate, case: schemathesis.Case) -> None:
    check(estate, "system-pos", case)


availability = schema_for("process-availability")
orders = schema_for("process-orders")


@availability.parametrize()
@FUZZ
def test_process_availability_never_500(estate: TestEstate, case: schemathesis.Case) -> None:
    check(estate, "process-availability", case)


@orders.parametrize()
@FUZZ
def test_process_orders_never_500(estate: TestEstate, case: schemathesis.Case) -> None:
    check(estate, "process-orders", case)
