"""The gateway pipeline's pure parts: which routes.toml entry a request takes, which headers go on and come back,
and how much body is read (gateway/routing.py, gateway/proxy.py). The pipeline end to end is in
tests/integration/gateway."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from gateway import proxy
from gateway.routing import RouteTable, load
from shared.problems import ProblemError

TABLE = msgspec.convert(
    {
        "route": [
            {
                "name": "orders-read",
                "prefix": "/web/v1/orders",
                "methods": ["GET"],
                "upstream": "experience-web",
                "auth": "oauth",
                "channel": "web",
                "scopes": ["orders:read"],
            },
            {
                "name": "orders-write",
                "prefix": "/web/v1/orders",
                "methods": ["POST"],
                "upstream": "experience-web",
                "auth": "oauth",
                "channel": "web",
                "scopes": ["orders:write"],
                "max_body_bytes": 10,
            },
            {
                "name": "orders-special",
                "prefix": "/web/v1/orders/special",
                "methods": ["GET"],
                "upstream": "experience-web",
                "auth": "oauth",
                "channel": "web",
                "scopes": ["orders:read"],
            },
            {"name": "web", "prefix": "/web", "methods": ["GET"], "upstream": "experience-web", "auth": "none"},
        ]
    },
    RouteTable,
)


@pytest.mark.parametrize(
    ("method", "path", "prefix", "name", "allowed"),
    [
        ("GET", "/web/v1/orders", "/web/v1/orders", "orders-read", {"GET", "POST"}),
        ("GET", "/web/v1/orders/o-1", "/web/v1/orders", "orders-read", {"GET", "POST"}),
        ("POST", "/web/v1/orders/", "/web/v1/orders", "orders-write", {"GET", "POST"}),
        ("DELETE", "/web/v1/orders/o-1", "/web/v1/orders", None, {"GET", "POST"}),
        ("GET", "/web/v1/orders/special/x", "/web/v1/orders/special", "orders-special", {"GET"}),
        ("POST", "/web/v1/orders/special", "/web/v1/orders/special", None, {"GET"}),  # the longest prefix decides
        ("GET", "/web/v1/ordersx", "/web", "web", {"GET"}),  # a prefix covers whole segments only
        ("GET", "/webshop", None, None, set()),
        ("GET", "/oauth2/token", None, None, set()),
    ],
)
def test_a_request_takes_the_entry_of_the_longest_prefix_covering_its_path(
    method: str, path: str, prefix: str | None, name: str | None, allowed: set[str]
) -> None:
    found_prefix, route, methods = TABLE.match(method, path)
    assert (found_prefix, route.name if route else None, set(methods)) == (prefix, name, allowed)


def test_a_star_segment_takes_any_one_segment_and_is_more_specific_than_the_prefix_above() -> None:
    table = load()
    assert table.match("POST", "/web/v1/orders/o-1/returns")[1].name == "web-returns-open"  # type: ignore[union-attr]
    assert table.match("POST", "/web/v1/orders/o-1/returns/")[1].name == "web-returns-open"  # type: ignore[union-attr]
    assert table.match("POST", "/web/v1/orders/o-1/cancel")[1].name == "web-orders-write"  # type: ignore[union-attr]
    assert table.match("POST", "/web/v1/orders//returns")[1].name == "web-orders-write"  # type: ignore[union-attr]
    prefix, route, allowed = table.match("GET", "/web/v1/orders/o-1/returns")
    assert (prefix, route, allowed) == ("/web/v1/orders/*/returns", None, frozenset({"POST"}))


def test_the_shipped_table_routes_every_channel() -> None:
    table = load()
    for path in ("/web/v1/orders/o-1", "/mobile/v1/orders", "/partner/v1/orders/o-2"):
        assert table.match("GET", path)[1] is not None, path


def test_the_callers_credentials_correlation_and_internal_headers_never_go_on() -> None:
    sent = [
        (b"authorization", b"Bearer abc"),
        (b"x-api-key", b"og_k_s"),
        (b"cookie", b"session=1"),
        (b"x-omnigate-identity", b"forged"),
        (b"x-omnigate-owner", b"web:someone-else"),
        (b"x-request-id", b"caller-chosen"),
        (b"traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"),
        (b"x-forwarded-for", b"6.6.6.6"),
        (b"connection", b"keep-alive"),
        (b"host", b"gateway"),
        (b"content-length", b"2"),
        (b"accept", b"application/json"),
        (b"accept", b"text/plain"),
        (b"idempotency-key", b"k-1"),
        (b"if-none-match", b'"v1"'),
    ]
    assert proxy.outbound(sent) == {
        "accept": "application/json, text/plain",
        "idempotency-key": "k-1",
        "if-none-match": '"v1"',
    }


def test_the_upstreams_serving_headers_stay_below_the_gateway() -> None:
    answered = {
        "Content-Type": "application/json",
        "ETag": '"v1"',
        "X-Request-ID": "below",
        "X-Served-By": "experience-web/12",
        "Set-Cookie": "a=b",
        "Transfer-Encoding": "chunked",
        "Server": "granian",
    }
    assert proxy.inbound(answered) == [(b"content-type", b"application/json"), (b"etag", b'"v1"')]


def _receiving(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


def _scope(method: str, headers: list[tuple[bytes, bytes]]) -> Any:
    return {"type": "http", "method": method, "headers": headers, "path": "/web/v1/orders"}


def test_a_body_is_read_whole_up_to_the_routes_limit() -> None:
    receive = _receiving(
        {"type": "http.request", "body": b"12345", "more_body": True},
        {"type": "http.request", "body": b"678", "more_body": False},
    )
    scope = _scope("POST", [(b"transfer-encoding", b"chunked")])
    assert asyncio.run(proxy.read_body(scope, receive, 10)) == b"12345678"


@pytest.mark.parametrize(
    ("headers", "chunks"),
    [
        ([(b"content-length", b"11")], []),  # announced: refused before reading
        ([(b"transfer-encoding", b"chunked")], [b"123456", b"789012"]),  # received
    ],
)
def test_a_body_beyond_the_routes_limit_is_413(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> None:
    receive = _receiving(*({"type": "http.request", "body": c, "more_body": True} for c in chunks))
    with pytest.raises(ProblemError) as caught:
        asyncio.run(proxy.read_body(_scope("POST", headers), receive, 10))
    assert caught.value.status == 413


def test_a_get_that_announces_no_body_is_not_read_and_a_bad_length_is_400() -> None:
    assert asyncio.run(proxy.read_body(_scope("GET", []), _receiving(), 10)) == b""
    with pytest.raises(ProblemError) as caught:
        asyncio.run(proxy.read_body(_scope("POST", [(b"content-length", b"-1")]), _receiving(), 10))
    assert caught.value.status == 400


def test_a_client_gone_before_its_body_arrived_forwards_nothing() -> None:
    receive = _receiving({"type": "http.disconnect"})
    with pytest.raises(ProblemError):
        asyncio.run(proxy.read_body(_scope("POST", [(b"content-length", b"4")]), receive, 10))
