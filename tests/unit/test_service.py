"""The service factory: every error is problem+json, correlation headers are set, probes tell the truth."""

from __future__ import annotations

import json
import logging
import socket
import time
import unicodedata
from typing import Any

import pytest
from litestar import Request, get, post
from litestar.params import JSONBody
from litestar.testing import TestClient

from shared import outage
from shared.models.orders import SalesOrderRequest
from shared.problems import MEDIA_TYPE, ProblemError
from shared.service import create_service
from shared.settings import Settings, from_env


@post("/orders")
async def create_order(data: JSONBody[SalesOrderRequest]) -> dict[str, str]:
    return {"ref": data.ref, **({"name": data.customer_name} if data.customer_name != "C" else {})}


@get("/state")
async def needs_redis(request: Request[Any, Any, Any]) -> dict[str, str]:
    await request.app.state.redis.get("anything")
    return {"status": "never"}


@get("/bug")
async def bug() -> None:
    raise RuntimeError("a bug, not a client error")


@get("/down")
async def down() -> None:
    raise ProblemError("upstream-unavailable", "erp: answered 503", upstream="erp", retry_after=2)


def make_client(
    redis_url: str = "redis://127.0.0.1:1/0", uses_redis: bool = False, env: dict[str, str] | None = None
) -> TestClient:
    settings = from_env(Settings, {"REDIS_URL": redis_url, "OMNIGATE_MAX_BODY_BYTES": "2048", **(env or {})})
    app = create_service(
        "svc-test",
        [create_order, bug, down, needs_redis],
        title="t",
        description="d",
        uses_redis=uses_redis,
        settings=settings,
    )
    return TestClient(app)


GOOD = {
    "ref": "o-1",
    "customer_id": "c",
    "customer_name": "C",
    "currency": "EUR",
    "lines": [{"sku": "A-1", "qty": 1, "unit_price": 100}],
}


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/nowhere", None, 404),
        ("DELETE", "/orders", None, 405),
        ("POST", "/orders", b"{not json", 400),
        ("POST", "/orders", b'{"ref": "o-1"}', 400),
        (
            "POST",
            "/orders",
            b'{"ref":"o-1","customer_id":"c","customer_name":"C","currency":"EUR","lines":[],"extra":1}',
            400,
        ),
        (
            "POST",
            "/orders",
            b'{"ref":"o-1","customer_id":"c","customer_name":"C","currency":"EUR","lines":[{"sku":"A","qty":-1,"unit_price":1}]}',
            400,
        ),
        (
            "POST",
            "/orders",
            b'{"ref":"o-1","customer_id":"c","customer_name":"C","currency":"EUR","lines":[{"sku":"A","qty":99999999,"unit_price":1}]}',
            400,
        ),
        (
            "POST",
            "/orders",
            b'{"ref":"o-1","customer_id":"c","customer_name":"C","currency":"EUR","lines":[{"sku":"bad sku!","qty":1,"unit_price":1}]}',
            400,
        ),
        (
            "POST",
            "/orders",
            b'{"ref":"o-1","customer_id":"c","customer_name":"C","currency":"EUR","lines":[{"sku":"A","qty":"1","unit_price":1}]}',
            400,
        ),
        ("POST", "/orders", b"x" * 4096, 413),
    ],
)
def test_framework_errors_are_problem_json(method: str, path: str, body: bytes | None, status: int) -> None:
    with make_client() as client:
        response = client.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert response.headers["content-type"] == MEDIA_TYPE
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("https://omnigate.dev/problems/")
    assert problem["title"] and problem["instance"] == path
    assert problem["request_id"] == response.headers["x-request-id"]


def test_valid_request_passes() -> None:
    with make_client() as client:
        response = client.post("/orders", json=GOOD)
    assert response.status_code == 201 and response.json() == {"ref": "o-1"}


def test_text_is_nfc_normalised_at_the_edge() -> None:
    decomposed = unicodedata.normalize("NFD", "José Núñez")
    with make_client() as client:
        response = client.post("/orders", json={**GOOD, "customer_name": decomposed})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == unicodedata.normalize("NFC", "José Núñez") != decomposed
    escaped = json.dumps({**GOOD, "customer_name": decomposed}).encode()  # plain ASCII bytes, \u escapes
    assert escaped.isascii()
    with make_client() as client:
        response = client.post("/orders", content=escaped, headers={"Content-Type": "application/json"})
    assert response.json()["name"] == unicodedata.normalize("NFC", "José Núñez")


def test_the_state_redis_away_is_a_503_with_retry_after_and_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    outage.REDIS.up()  # the process-wide outage state starts clean
    with caplog.at_level(logging.WARNING), make_client(uses_redis=True) as client:
        answers = [client.get("/state") for _ in range(3)]
    for response in answers:
        assert response.status_code == 503 and response.headers["content-type"] == MEDIA_TYPE
        assert response.json()["type"].endswith("/service-unavailable") and response.headers["retry-after"]
    assert not [r for r in caplog.records if r.exc_info], "an outage is not a bug: no traceback"
    warnings = [r for r in caplog.records if r.name == "omnigate.outage"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]


def test_a_redis_that_stops_answering_is_a_503_within_the_socket_timeout() -> None:
    """A Redis that accepts connections and then says nothing (a hung server, a dropped network path) must not hold
    requests: after ``redis_socket_timeout_s`` the state Redis counts as away."""
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel's backlog accepts; nobody ever answers
    try:
        port = silent.getsockname()[1]
        outage.REDIS.up()
        env = {"OMNIGATE_REDIS_SOCKET_TIMEOUT_S": "1.5"}
        with make_client(redis_url=f"redis://127.0.0.1:{port}/0", uses_redis=True, env=env) as client:
            started = time.monotonic()
            response = client.get("/state")
            waited = time.monotonic() - started
    finally:
        silent.close()
    assert response.status_code == 503 and response.headers["retry-after"]
    assert 1.4 <= waited < 4, waited


def test_unexpected_exception_stays_a_500_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR), make_client() as client:
        response = client.get("/bug")
    assert response.status_code == 500
    assert response.json()["type"].endswith("/internal-error")
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and logged[0].exc_info[0] is RuntimeError, "the traceback must be logged"


def test_upstream_problem_names_upstream_and_sets_retry_after() -> None:
    with make_client() as client:
        response = client.get("/down")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json()["upstream"] == "erp"


def test_correlation_headers() -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    with make_client() as client:
        response = client.get(
            "/healthz", headers={"X-Request-ID": "abc-123", "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
        )
        minted = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.headers["traceparent"].startswith(f"00-{trace_id}-")
    assert response.headers["x-served-by"].startswith("svc-test/")
    assert minted.headers["x-request-id"] != "bad id with spaces"


def test_readyz_fails_with_problem_when_redis_is_unreachable() -> None:
    with make_client(uses_redis=True) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == MEDIA_TYPE


def test_readyz_ok_with_real_redis(redis_url: str) -> None:
    with make_client(redis_url=redis_url, uses_redis=True) as client:
        assert client.get("/readyz").status_code == 200


def test_metrics_count_requests_by_route_template() -> None:
    with make_client() as client:
        client.post("/orders", json=GOOD)
        body = client.get("/metrics").text
    assert 'route="/orders"' in body and 'service="svc-test"' in body


@get("/logs")
async def logs_something() -> None:
    logging.getLogger("omnigate.test").warning("something worth a line")


def test_log_lines_are_json_with_the_request_correlation(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    settings = from_env(Settings, {"REDIS_URL": "redis://127.0.0.1:1/0"})
    app = create_service("svc-logs", [logs_something], title="t", description="d", uses_redis=False, settings=settings)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    with TestClient(app) as client:
        client.get("/logs", headers={"X-Request-ID": "req-42", "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    ours = [line for line in lines if line.get("msg") == "something worth a line"]
    assert ours and ours[0]["service"] == "svc-logs" and ours[0]["level"] == "warning"
    assert ours[0]["request_id"] == "req-42" and ours[0]["trace_id"] == trace_id


def test_outer_wrappers_see_every_request_the_routers_404_included() -> None:
    seen: list[str] = []

    def counting(app: Any, inner: Any) -> Any:
        async def layer(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                seen.append(scope["path"])
            await inner(scope, receive, send)

        return layer

    app = create_service(
        "svc-test",
        [create_order],
        title="t",
        description="d",
        uses_redis=False,
        settings=from_env(Settings, {"REDIS_URL": "redis://127.0.0.1:1/0"}),
        wrappers=[counting],
    )
    with TestClient(app) as client:
        assert client.get("/nowhere").status_code == 404
        assert client.post("/orders", json=GOOD).status_code == 201
    assert seen == ["/nowhere", "/orders"]
