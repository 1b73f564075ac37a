"""Prometheus metrics, safe across granian workers.

When ``PROMETHEUS_MULTIPROC_DIR`` is set (the launcher and the chart set it) every worker writes its samples
there and ``/metrics`` aggregates them, so a scrape sees the whole deployable, not one worker.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter("omnigate_http_requests_total", "Requests served", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "omnigate_http_request_duration_seconds",
    "Time to serve a request",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UPSTREAM_REQUESTS = Counter(
    "omnigate_upstream_requests_total", "Outbound hops by upstream and outcome", ["service", "upstream", "outcome"]
)
UPSTREAM_LATENCY = Histogram(
    "omnigate_upstream_request_duration_seconds",
    "Time an upstream took to answer",
    ["service", "upstream"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BREAKER_STATE = Gauge(
    "omnigate_breaker_open",
    "1 while this worker's breaker for the upstream is open",
    ["service", "upstream"],
    multiprocess_mode="max",
)
EVENTS = Counter("omnigate_events_total", "Events by stream and outcome", ["service", "stream", "outcome"])


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
