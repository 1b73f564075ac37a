"""A route's ``when_limits_down`` end to end (gateway/limiting.py): a gateway instance whose state Redis alone is
taken away, while the estate keeps running.

The instance reaches the state Redis only through a TCP relay run by this test (:class:`RedisLine`); cutting the
relay drops the instance's connections and refuses new ones, as a Redis that went down would. Its response cache
is in the state Redis too (the default), so it goes with it. What the instance needs from Redis besides the
counters is warmed up before the cut, as a running gateway holds it: the gateway's token keys, the validated
token, the partner key's record (each worker's LRU: the instance runs one worker so one warm-up reaches it) and
the internal identity minter. The minter asks the key ring again every ``OMNIGATE_GATEWAY_IDENTITY_REFRESH_S``
(30 s shipped, half a second here), and goes on with the key it holds while Redis is away: a fail-open read is
served all through an outage, not only until that check falls due.

With the counters away: a read of a fail-open route is served unlimited and logged ``limit=unlimited``; a write
(closed by default), and the explicitly closed bulk availability, are 503 problem+json with ``Retry-After`` and
reach nothing below the gateway; a partner API key is 503 even on a fail-open route (its revocation cannot be
checked), where the same partner's OAuth token is served. Once the relay lets connections through again, the
limits count again."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import http_sfv
import httpx
import pytest

from tests.estate import TRACEBACK, TestEstate, assert_problem, order_body

pytestmark = pytest.mark.estate

LABEL = "limits-down"
INSTANCE = f"gateway#{LABEL}"
# An answer with the counters away comes at once: the relay refuses connections, and the limiter's own Redis
# timeouts (1 s) bound a Redis that does not answer. Well within this, on a loaded test machine.
PROMPT_S = 3.0
IDENTITY_REFRESH_S = 0.5  # the instance's minter asks the key ring this often (gateway/identities.py)


class RedisLine:
    """A TCP relay from a port of its own to the state Redis, run in a thread of this test process.

    :meth:`cut` closes the listening socket (new connections are refused) and closes every relayed connection,
    as a Redis that stops or dies does (its sockets end with a FIN); :meth:`restore` listens on the same port
    again."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="redis-line", daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._thread.start()
        self._run(self._listen())

    def _run(self, step: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(step, self._loop).result(timeout=10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            redis_r, redis_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()
            return
        self._open |= {client_w, redis_w}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(client_r, redis_w), pump(redis_r, client_w))
        self._open -= {client_w, redis_w}

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.close()
        self._open.clear()

    def cut(self) -> None:
        self._run(self._cut())

    def restore(self) -> None:
        if self._server is None:
            self._run(self._listen())

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@pytest.fixture(scope="module")
def redis_line(estate: TestEstate) -> Iterator[RedisLine]:
    state = httpx.URL(estate.settings.redis_url)
    line = RedisLine(state.host or "127.0.0.1", state.port or 6379)
    yield line
    line.close()


@pytest.fixture(scope="module")
def instance(estate: TestEstate, redis_line: RedisLine) -> Iterator[str]:
    """A gateway instance (one worker) whose state Redis is reached through ``redis_line`` only. Its log must
    hold no traceback when it stops (the estate's own check no longer sees an instance once it stopped)."""
    url = estate.start_instance(
        "gateway",
        LABEL,
        env={"REDIS_URL": redis_line.url, "OMNIGATE_GATEWAY_IDENTITY_REFRESH_S": str(IDENTITY_REFRESH_S)},
        workers=1,
    )
    log = estate.log_path(INSTANCE)
    try:
        yield url
    finally:
        estate.stop_instance("gateway", LABEL)
        text = log.read_text(errors="replace")
        found = TRACEBACK.search(text)
        assert found is None, text[max(0, found.start() - 400) : found.start() + 3000] if found else ""


@pytest.fixture
def client(instance: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=instance, timeout=15) as client:
        yield client


@pytest.fixture
def redis_away(redis_line: RedisLine) -> Iterator[Callable[[], None]]:
    """``cut()`` takes the instance's Redis away; it comes back when the test ends, whatever happened."""
    yield redis_line.cut
    redis_line.restore()


def _shopper(shopper_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {shopper_token(f'c-ld-{uuid.uuid4().hex[:8]}', 'web')}"}


def _timed(call: Callable[[], httpx.Response]) -> httpx.Response:
    started = time.monotonic()
    answer = call()
    took = time.monotonic() - started
    assert took < PROMPT_S, f"answered after {took:.2f} s: {answer.status_code} {answer.text[:300]}"
    return answer


def _access_line(estate: TestEstate, request_id: str) -> dict[str, object]:
    """The instance's access-log line of the request with this id (written once the answer has gone)."""

    def find() -> dict[str, object] | None:
        for line in estate.log_path(INSTANCE).read_text(errors="replace").splitlines():
            if request_id in line and '"logger":"omnigate.gateway.access"' in line:
                return dict(json.loads(line))
        return None

    return estate.wait_for(find, timeout=5, what=f"the access-log line of {request_id}")


def _warm(estate: TestEstate, call: Callable[[], httpx.Response]) -> None:
    """Make ``call`` once with the Redis up, until it is served: the instance's pooled Redis connections that the
    previous test's cut closed may fail the first request after the relay is back (a 503, once per stale
    connection), as after any Redis restart."""
    estate.wait_for(lambda: call().status_code == 200, timeout=10, interval=0.2, what="the warm-up request served")


def _unavailable(answer: httpx.Response) -> dict[str, object]:
    problem = assert_problem(answer, 503, "service-unavailable")
    assert int(answer.headers["retry-after"]) >= 1, answer.headers
    return problem


def test_a_read_is_served_unlimited_while_the_counters_are_away(
    estate: TestEstate, client: httpx.Client, redis_away: Callable[[], None], shopper_token: Callable[..., str]
) -> None:
    (sku,) = estate.fresh_skus(1)
    shopper = _shopper(shopper_token)
    _warm(estate, lambda: client.get(f"/web/v1/products/{sku}", headers=shopper))
    warm = client.get(f"/web/v1/products/{sku}", headers=shopper)
    assert warm.status_code == 200 and "ratelimit" in warm.headers, warm.text
    redis_away()
    request_id = f"ld-{uuid.uuid4().hex}"
    served = _timed(lambda: client.get(f"/web/v1/products/{sku}", headers={**shopper, "X-Request-ID": request_id}))
    assert served.status_code == 200, served.text
    assert served.json()["sku"] == sku
    assert "ratelimit" not in served.headers and "ratelimit-policy" not in served.headers, served.headers
    line = _access_line(estate, request_id)
    assert (line["route"], line["status"], line["limit"]) == ("web-products-read", 200, "unlimited"), line
    # Once the instance's connections are gone, new ones are refused: the same answer, as promptly, and still
    # after its identity minter's check of the key ring fell due.
    time.sleep(IDENTITY_REFRESH_S + 0.2)
    again = _timed(lambda: client.get(f"/web/v1/products/{sku}", headers=shopper))
    assert again.status_code == 200 and "ratelimit" not in again.headers, again.text


def test_a_write_is_refused_while_the_counters_are_away_and_reaches_nothing(
    estate: TestEstate,
    client: httpx.Client,
    redis_away: Callable[[], None],
    shopper_token: Callable[..., str],
    upstream_served: Callable[[], dict[str, float]],
) -> None:
    (sku,) = estate.fresh_skus(1)
    customer = f"c-ld-{uuid.uuid4().hex[:8]}"
    shopper = {"Authorization": f"Bearer {shopper_token(customer, 'web')}"}
    _warm(estate, lambda: client.get("/web/v1/orders", headers=shopper))
    warm = client.get("/web/v1/orders", headers=shopper)
    assert warm.status_code == 200 and warm.json()["items"] == [], warm.text
    redis_away()
    before = upstream_served()
    request_id = f"ld-{uuid.uuid4().hex}"
    refused = _timed(
        lambda: client.post(
            "/web/v1/orders",
            json=order_body(sku, 1, customer=customer),
            headers={**shopper, "Idempotency-Key": uuid.uuid4().hex, "X-Request-ID": request_id},
        )
    )
    problem = _unavailable(refused)
    assert "rate-limit counters" in str(problem["detail"]), problem
    assert upstream_served() == before, "a refused write reaches nothing below the gateway"
    line = _access_line(estate, request_id)
    assert (line["route"], line["status"], line["limit"]) == ("web-orders-write", 503, "unavailable"), line


def _partner_token(gateway: httpx.Client, new_client: Callable[..., tuple[str, str]], partner: str) -> str:
    client_id, secret = new_client("availability:read orders:read", partner=partner)
    issued = gateway.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert issued.status_code == 200, issued.text
    return str(issued.json()["access_token"])


def test_a_partner_route_that_fails_closed_is_refused_and_a_partner_key_everywhere(
    estate: TestEstate,
    client: httpx.Client,
    gateway: httpx.Client,
    redis_away: Callable[[], None],
    new_client: Callable[..., tuple[str, str]],
    partner_key: Callable[..., str],
    upstream_served: Callable[[], dict[str, float]],
) -> None:
    """partner-availability says ``when_limits_down = "closed"``: refused even for an OAuth token, which the
    fail-open partner-orders-read serves; an API key is refused on that fail-open route too."""
    partner = f"p-ld-{uuid.uuid4().hex[:8]}"
    token = {"Authorization": f"Bearer {_partner_token(gateway, new_client, partner)}"}
    key = {"X-API-Key": partner_key(partner, "sandbox")}
    bulk = {"skus": ["ZZ-LD-UNKNOWN"]}
    for credential in (token, key):  # each credential known to the instance's worker, as in a running gateway
        _warm(estate, lambda c=credential: client.post("/partner/v1/availability", json=bulk, headers=c))
        _warm(estate, lambda c=credential: client.get("/partner/v1/orders", headers=c))
    redis_away()
    before = upstream_served()
    closed = _timed(lambda: client.post("/partner/v1/availability", json=bulk, headers=token))
    assert "rate-limit counters" in str(_unavailable(closed)["detail"])
    for credential in (token, key):
        _unavailable(_timed(functools.partial(client.post, "/partner/v1/availability", json=bulk, headers=credential)))
    keyed = _unavailable(_timed(lambda: client.get("/partner/v1/orders", headers=key)))
    assert "API key" in str(keyed["detail"]), keyed
    assert upstream_served() == before, "nothing refused reached the layers below"
    served = _timed(lambda: client.get("/partner/v1/orders", headers=token))
    assert served.status_code == 200 and served.json()["items"] == [], served.text
    assert "ratelimit" not in served.headers


def test_the_limits_count_again_once_the_counters_are_back(
    estate: TestEstate,
    client: httpx.Client,
    redis_line: RedisLine,
    redis_away: Callable[[], None],
    shopper_token: Callable[..., str],
) -> None:
    customer = f"c-ld-{uuid.uuid4().hex[:8]}"
    shopper = {"Authorization": f"Bearer {shopper_token(customer, 'web')}"}
    _warm(estate, lambda: client.get("/web/v1/orders", headers=shopper))
    counted = client.get("/web/v1/orders", headers=shopper)
    assert counted.status_code == 200, counted.text
    logged_before = estate.log_path(INSTANCE).stat().st_size
    redis_away()
    for _ in range(5):
        unlimited = _timed(lambda: client.get("/web/v1/orders", headers=shopper))
        assert unlimited.status_code == 200 and "ratelimit" not in unlimited.headers, unlimited.headers
    refused = _timed(
        lambda: client.post(
            "/web/v1/orders", json=order_body("ZZ-LD", customer=customer), headers={**shopper, "Idempotency-Key": "k"}
        )
    )
    _unavailable(refused)
    redis_line.restore()
    # The instance's clients find the relay again on their next connection: the next request counts.
    again = _timed(lambda: client.get("/web/v1/orders", headers=shopper))
    assert again.status_code == 200, again.text
    assert "web-shopper" in again.headers["ratelimit-policy"], again.headers
    # One unit between the two counted reads: what was served or refused while the counters were away spent none.
    assert _remaining(again, "web-shopper") == _remaining(counted, "web-shopper") - 1, (counted.headers, again.headers)
    request_id = f"ld-{uuid.uuid4().hex}"
    written = client.get("/web/v1/orders", headers={**shopper, "X-Request-ID": request_id})
    assert written.status_code == 200 and _remaining(written, "web-shopper") == _remaining(again, "web-shopper") - 1
    assert _access_line(estate, request_id)["limit"] == "ok"
    # The log tells the outage once, not request by request: when it began, what requests got, when it ended.
    with estate.log_path(INSTANCE).open("rb") as log:
        log.seek(logged_before)
        lines = log.read().decode(errors="replace").splitlines()
    counters = [json.loads(line)["msg"] for line in lines if "the rate-limit counters" in line]
    assert len(counters) == 2, counters
    assert "unavailable" in counters[0] and "fail-open routes are served unlimited" in counters[0], counters
    assert counters[1].startswith("the rate-limit counters (state Redis) is back"), counters
    assert not [line for line in lines if "served unlimited:" in line], "no warning per request"


def _remaining(answer: httpx.Response, policy: str) -> int:
    """The units ``policy`` has left, as the answer's ``RateLimit`` field says (draft-ietf-httpapi-ratelimit-headers)."""
    parsed = http_sfv.List()
    parsed.parse(answer.headers["ratelimit"].encode())
    (left,) = [int(member.params["r"]) for member in parsed if str(member.value) == policy]
    return left
