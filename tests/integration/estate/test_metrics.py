"""/metrics covers the whole deployable, not the one worker that answered the scrape."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.estate import TestEstate

pytestmark = pytest.mark.estate


def healthz_count(metrics_text: str, service: str) -> float:
    pattern = re.compile(
        r'^omnigate_http_requests_total\{(?=[^}]*method="GET")(?=[^}]*route="/healthz")'
        rf'(?=[^}}]*service="{re.escape(service)}")[^}}]*\}} ([0-9.e+]+)$',
        re.M,
    )
    return sum(float(v) for v in pattern.findall(metrics_text))


def test_metrics_aggregate_every_worker(estate: TestEstate) -> None:
    base = estate.url("system-pos")
    before = healthz_count(httpx.get(base + "/metrics").text, "system-pos")
    served_by = {httpx.get(base + "/healthz").headers["x-served-by"] for _ in range(60)}  # fresh connections
    after = healthz_count(httpx.get(base + "/metrics").text, "system-pos")
    assert len(served_by) == estate.workers("system-pos")
    assert after - before == 60
