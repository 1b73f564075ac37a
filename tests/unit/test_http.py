"""The hop client against a real local upstream (an aiohttp server we control), not a mock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from shared import context
from shared.http import Upstreams
from shared.problems import ProblemError
from shared.settings import Settings, from_env


class Upstream:
    def __init__(self) -> None:
        self.hits = 0
        self.status = 200
        self.delay = 0.0
        self.seen_headers: list[dict[str, str]] = []
        self.seen_paths: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        self.seen_headers.append(dict(request.headers))
        self.seen_paths.append(request.raw_path)
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.json_response({"hits": self.hits}, status=self.status)


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    state = Upstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def make_pool(url: str, **overrides: str) -> Upstreams:
    env = {
        "OMNIGATE_URL_ERP": url,
        "OMNIGATE_HTTP_TIMEOUT_S": "0.5",
        "OMNIGATE_BREAKER_FAIL_MAX": "3",
        "OMNIGATE_BREAKER_RESET_S": "0.5",
        "OMNIGATE_RETRY_ATTEMPTS": "3",
        "OMNIGATE_RETRY_BACKOFF_S": "0.001",
        **overrides,
    }
    return Upstreams(from_env(Settings, env), service="test")


async def test_get_is_retried_then_answers_with_upstream_problem(upstream: tuple[Upstream, str]) -> None:
    state, url = upstream
    state.status = 503
    pool = make_pool(url, OMNIGATE_BREAKER_FAIL_MAX="10")
    with pytest.raises(ProblemError) as err:
        await pool["erp"].get("/x")
    assert err.value.status == 503 and err.value.upstream == "erp"
    assert state.hits == 3  # retry_attempts
    await pool.close()


async def test_post_is_never_retried(upstream: tuple[Upstream, str]) -> None:
    state, url = upstream
    state.status = 500
    pool = make_pool(url, OMNIGATE_BREAKER_FAIL_MAX="10")
    with pytest.raises(ProblemError) as err:
        await pool["erp"].post("/x", json={"a": 1})
    assert err.value.status == 502 and err.value.slug == "upstream-error"
    assert state.hits == 1
    await pool.close()


async def test_4xx_is_returned_not_raised_and_not_a_breaker_failure(upstream: tuple[Upstream, str]) -> None:
    state, url = upstream
    state.status = 404
    pool = make_pool(url)
    for _ in range(5):
        response = await pool["erp"].get("/missing")
        assert response.status == 404
    assert pool["erp"].breaker.current_state == "closed"
    await pool.close()


async def test_breaker_opens_fails_fast_and_closes_again(upstream: tuple[Upstream, str]) -> None:
    state, url = upstream
    state.status = 503
    pool = make_pool(url, OMNIGATE_RETRY_ATTEMPTS="1")
    erp = pool["erp"]
    for _ in range(3):
        with pytest.raises(ProblemError):
            await erp.get("/x")
    assert erp.breaker.current_state == "open"
    hits_when_open = state.hits
    with pytest.raises(ProblemError) as err:
        await erp.get("/x")
    assert err.value.status == 503 and "breaker" in (err.value.detail or "")
    assert err.value.headers.get("Retry-After")
    assert state.hits == hits_when_open, "an open breaker must not call the upstream"
    state.status = 200
    await asyncio.sleep(0.6)  # past reset_timeout: half-open lets one trial through
    response = await erp.get("/x")
    assert response.ok and erp.breaker.current_state == "closed"
    await pool.close()


async def test_timeout_is_504_naming_upstream(upstream: tuple[Upstream, str]) -> None:
    state, url = upstream
    state.delay = 2.0
    pool = make_pool(url, OMNIGATE_RETRY_ATTEMPTS="1")
    with pytest.raises(ProblemError) as err:
        await pool["erp"].get("/slow")
    assert err.value.status == 504 and err.value.upstream == "erp"
    await pool.close()


async def test_unreachable_is_503() -> None:
    pool = make_pool("http://127.0.0.1:9", OMNIGATE_RETRY_ATTEMPTS="1")
    with pytest.raises(ProblemError) as err:
        await pool["erp"].get("/x")
    assert err.value.status == 503 and err.value.slug == "upstream-unavailable"
    await pool.close()


async def test_correlation_headers_are_propagated(upstream: tuple[Upstream, str]) -> None:
    state, url = upstream
    pool = make_pool(url)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    context.begin("req-123", f"00-{trace_id}-00f067aa0ba902b7-01")
    await pool["erp"].get("/x")
    headers = {k.lower(): v for k, v in state.seen_headers[-1].items()}
    assert headers["x-request-id"] == "req-123"
    assert headers["traceparent"].startswith(f"00-{trace_id}-") and not headers["traceparent"].endswith(
        "00f067aa0ba902b7-01"
    )
    await pool.close()


async def test_unknown_upstream_is_a_configuration_error() -> None:
    pool = Upstreams(from_env(Settings, {}), service="test")
    with pytest.raises(LookupError, match="OMNIGATE_URL_NOWHERE"):
        pool["nowhere"]


async def test_a_body_of_the_wrong_shape_is_a_502_naming_the_upstream(upstream: tuple[Upstream, str]) -> None:
    _, url = upstream
    upstreams = Upstreams(from_env(Settings, {"OMNIGATE_URL_WMS": url}), service="t")
    try:
        response = await upstreams["wms"].get("/anything")
        with pytest.raises(ProblemError) as raised:
            response.json(list[int])  # {"hits": 1} is not a list of ints
    finally:
        await upstreams.close()
    assert raised.value.status == 502 and raised.value.upstream == "wms"
    assert "wms" in (raised.value.detail or "")


async def test_a_hash_in_a_path_is_part_of_the_path(upstream: tuple[Upstream, str]) -> None:
    """A ``#`` in a value put into a path (an id from a decoded segment) goes on percent-encoded: cut at as a
    fragment, ``POST /orders/x#/cancel`` reached the next hop as ``POST /orders/x``."""
    state, url = upstream
    pool = make_pool(url)
    answer = await pool["erp"].post("/orders/x#1/cancel", json={})
    assert answer.status == 200
    assert state.seen_paths == ["/orders/x%231/cancel"]
    await pool.close()
