"""What the edge does to every request: bodies beyond the route's size are refused before anything is forwarded,
and the request id issued (or accepted) at the edge is the one every layer below records; and what it serves of
its own: the public contracts and their rendered reference."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.estate import TestEstate, assert_problem, order_body

OPENAPI = Path(__file__).resolve().parents[3] / "openapi"


def test_a_body_beyond_the_routes_limit_is_a_413_and_is_not_forwarded(
    estate: TestEstate, gateway: httpx.Client, shopper_token: Callable[..., str]
) -> None:
    auth = {"Authorization": f"Bearer {shopper_token('c-edge-1', 'web')}", "Idempotency-Key": uuid.uuid4().hex}
    before = estate.served(estate.url("experience-web"), "/web/v1/orders")
    oversized = b'{"pad": "' + b"x" * 70_000 + b'"}'  # routes.toml: web-orders-write takes 64 KiB
    answer = gateway.post("/web/v1/orders", content=oversized, headers={**auth, "Content-Type": "application/json"})
    assert_problem(answer, 413)
    assert estate.served(estate.url("experience-web"), "/web/v1/orders") == before


def test_the_request_id_of_the_edge_is_recorded_by_every_layer_below(
    estate: TestEstate, gateway: httpx.Client, shopper_token: Callable[..., str]
) -> None:
    (sku,) = estate.fresh_skus(1)
    estate.set_dc_stock(sku, 3)
    customer = f"c-edge-{uuid.uuid4().hex[:6]}"
    request_id = f"edge-{uuid.uuid4().hex}"
    headers = {
        "Authorization": f"Bearer {shopper_token(customer, 'web')}",
        "Idempotency-Key": uuid.uuid4().hex,
        "X-Request-ID": request_id,
    }
    placed = gateway.post("/web/v1/orders", json=order_body(sku, customer=customer), headers=headers)
    assert placed.status_code == 201, placed.text
    assert placed.headers["x-request-id"] == request_id
    trace_id = placed.headers["traceparent"].split("-")[1]
    timeline = gateway.get(
        f"/web/v1/orders/{placed.json()['id']}/timeline", headers={"Authorization": headers["Authorization"]}
    ).json()
    # process-orders (two hops below) and the back-end steps it drove carry the edge's request id
    assert {step["correlation_id"] for step in timeline} == {request_id}
    # ... and the gateway's access log line carries it with the trace id it answered with
    log = estate.log_path("gateway").read_text()
    assert any(
        request_id in line and trace_id in line and '"route":"web-orders-write"' in line for line in log.splitlines()
    )
    # without one, the edge issues its own
    issued = gateway.get("/web/v1/orders", headers={"Authorization": headers["Authorization"]})
    assert issued.status_code == 200 and len(issued.headers["x-request-id"]) >= 16


def test_the_gateway_serves_the_public_contracts_and_their_reference(gateway: httpx.Client) -> None:
    for channel in ("web", "mobile", "partner"):
        served = gateway.get(f"/openapi/public-{channel}.json")
        assert served.status_code == 200, served.text
        assert served.content == (OPENAPI / f"public-{channel}.json").read_bytes()
        page = gateway.get(f"/docs/{channel}")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert f"Omnigate {channel} API" in page.text
    index = gateway.get("/docs")
    assert index.status_code == 200 and all(f'href="/docs/{c}"' in index.text for c in ("web", "mobile", "partner"))
    assert_problem(gateway.get("/openapi/public-internal.json"), 404)
    assert_problem(gateway.get("/docs/internal"), 400)


def _raw_get(base: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """A GET of ``path`` exactly as written (HTTP clients resolve dot segments before sending)."""
    url = httpx.URL(base)
    with socket.create_connection((url.host, url.port), timeout=10) as conn:
        lines = [f"GET {path} HTTP/1.1", f"Host: {url.host}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


def test_a_path_with_dot_segments_is_refused_before_any_policy(
    estate: TestEstate, shopper_token: Callable[..., str], upstream_served: Callable[[], object]
) -> None:
    """/web/v1/products/../orders/o-1 matches the products route as written, but is /web/v1/orders/o-1 once an
    HTTP library resolves it: taken as it is, a request would pass one route's policies and reach another's."""
    auth = {"Authorization": f"Bearer {shopper_token(f'c-dots-{uuid.uuid4().hex[:6]}', 'web')}"}
    before = upstream_served()
    for path in ("/web/v1/products/../orders/o-1", "/web/v1/orders/./o-1", "/web/v1/orders/..", "/web/v1/%2e%2e/x"):
        status, answer = _raw_get(estate.url("gateway"), path, auth)
        assert status == 400 and b"invalid-request" in answer, (path, answer[:300])
    assert upstream_served() == before


def test_an_encoded_delimiter_in_a_path_segment_goes_on_encoded(
    estate: TestEstate, shopper_token: Callable[..., str]
) -> None:
    """``%23`` (#) and ``%3F`` (?) inside an order id are part of the id: forwarded decoded, they would start a
    fragment or a query on the next hop (POST /web/v1/orders/x%23/cancel reached experience-web as POST
    /web/v1/orders/x, a 405). Sent on as the caller encoded them, the layer below refuses the id (400)."""
    auth = {"Authorization": f"Bearer {shopper_token(f'c-enc-{uuid.uuid4().hex[:6]}', 'web')}"}
    with httpx.Client(base_url=estate.url("gateway"), timeout=10) as client:
        for method, path in (
            ("POST", "/web/v1/orders/x%23/cancel"),
            ("GET", "/web/v1/orders/x%3Fy=1/timeline"),
            ("GET", "/web/v1/orders/x%23y"),
        ):
            answer = client.request(method, httpx.URL(path), headers={**auth, "Idempotency-Key": "k-enc"}, json={})
            problem = assert_problem(answer, 400, "invalid-request")
            assert "order_id" in json.dumps(problem), (method, path, problem)
