"""The one outbound client for hops between deployables and to back-ends.

One aiohttp ``ClientSession`` per process (DESIGN §9: a hop costs 0.34 ms of CPU with aiohttp against 2.5 ms
with httpx's pool), one pybreaker breaker per upstream per worker, tenacity retries for idempotent methods only,
and the request's correlation headers on every hop. Failures leave here as problem+json errors that name the
upstream (502/503/504), so a back-end failure never turns into an unexplained 500 in a caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from types import GenericAlias
from typing import Any, TypeVar

import aiohttp
import msgspec
import pybreaker
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from shared import context, metrics
from shared.identity import HEADER as IDENTITY_HEADER
from shared.problems import ProblemError
from shared.settings import Settings

log = logging.getLogger("omnigate.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
T = TypeVar("T")
# A query: a mapping, or (name, value) pairs when a name repeats (``?sku=A&sku=B``), as aiohttp takes them.
Params = Mapping[str, str | int] | Sequence[tuple[str, str]]
_encoder = msgspec.json.Encoder()


def _as_path(path: str) -> str:
    """A request path as it goes on the wire: an HTTP request never carries a fragment (RFC 9110 §4.2.4), so a ``#``
    in a path is part of a value put into it (an id taken from a decoded path segment) and is sent percent-encoded,
    never left for the URL parser to cut the path at (which sent ``POST /orders/x#/cancel`` as ``POST /orders/x``)."""
    return path.replace("#", "%23")


class UpstreamResponse(msgspec.Struct, frozen=True):
    status: int
    headers: Mapping[str, str]
    body: bytes
    upstream: str = ""

    def json(self, type: type[T]) -> T:
        """Decode the body; a body that does not fit ``type`` is the upstream's fault: 502 naming it."""
        decoded: T = self._decode(type)
        return decoded

    def json_list(self, item: type[T]) -> list[T]:
        """Decode a JSON array of ``item`` (``list[item]``, which a type checker cannot spell for a variable)."""
        decoded: list[T] = self._decode(GenericAlias(list, (item,)))
        return decoded

    def _decode(self, target: object) -> Any:
        try:
            return msgspec.json.decode(self.body, type=target)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProblemError(
                "upstream-error", f"{self.upstream}: unexpected response body: {exc}", upstream=self.upstream or None
            ) from exc

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class _Transient(Exception):
    """A failure that counts against the breaker and may be retried on an idempotent call."""

    def __init__(self, slug: str, detail: str, response: UpstreamResponse | None = None, *, sent: bool = True) -> None:
        super().__init__(detail)
        self.slug = slug
        self.detail = detail
        self.response = response
        self.sent = sent  # False: the request never reached the upstream (its outcome is definite)


def _retry_after(exc: _Transient) -> int | None:
    """How long a caller should wait after an upstream was unavailable: its own ``Retry-After`` (delay-seconds)
    when it sent one, else one second; ``None`` for failures a wait does not mend (a 500, a timeout)."""
    if exc.slug != "upstream-unavailable":
        return None
    given = exc.response.headers.get("Retry-After", "") if exc.response is not None else ""
    return max(1, min(int(given), 3600)) if given.isdigit() else 1


class _BreakerGauge(pybreaker.CircuitBreakerListener):
    def __init__(self, service: str, upstream: str) -> None:
        self.gauge = metrics.BREAKER_STATE.labels(service, upstream)

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        self.gauge.set(1 if new_state.name == pybreaker.STATE_OPEN else 0)
        log.warning("breaker %s: %s -> %s", cb.name, getattr(old_state, "name", old_state), new_state.name)


class Upstream:
    """A named upstream: its base URL, its timeout, its breaker (``breaker``: the breaker's own name, when it
    guards one part of the upstream only; see :meth:`Upstreams.part`)."""

    def __init__(self, name: str, base_url: str, pool: Upstreams, *, breaker: str | None = None) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._pool = pool
        settings = pool.settings
        self.timeout = aiohttp.ClientTimeout(
            total=settings.http_timeout_s, sock_connect=settings.http_connect_timeout_s
        )
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_fail_max,
            reset_timeout=settings.breaker_reset_s,
            exclude=[asyncio.CancelledError],
            listeners=[_BreakerGauge(pool.service, breaker or name)],
            name=breaker or name,
            throw_new_error_on_trip=False,
        )
        self._latency = metrics.UPSTREAM_LATENCY.labels(pool.service, name)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        identity: str | None = None,
        idempotent: bool | None = None,
        timeout_s: float | None = None,
    ) -> UpstreamResponse:
        """Send one request; 4xx answers are returned, transient failures raise problem+json errors.

        ``identity`` is the internal identity token the call carries (``X-Omnigate-Identity``): the caller's as it
        was received, or the deployable's own service identity (:class:`shared.signing.ServiceSigner`); it is the
        one way a hop says who it is for. ``params``: the query, as a mapping or as pairs (a repeated name). ``idempotent`` overrides the method's default (a POST made safe by a
        business key may opt in).
        """
        method = method.upper()
        retryable = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        body = content if content is not None else (_encoder.encode(json) if json is not None else None)
        all_headers = context.outbound_headers()
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        if headers:
            all_headers.update(headers)
        if identity is not None:
            all_headers[IDENTITY_HEADER] = identity
        timeout = self.timeout if timeout_s is None else aiohttp.ClientTimeout(total=timeout_s)
        attempts = self._pool.settings.retry_attempts if retryable else 1
        sent_before = [False]  # whether an earlier attempt of this call may have reached the upstream
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(max(1, attempts)),
                wait=wait_random_exponential(multiplier=self._pool.settings.retry_backoff_s, max=1.0),
                retry=retry_if_exception_type(_Transient),
                reraise=True,
            ):
                with attempt:
                    try:
                        return await self._once(method, path, body, params, all_headers, timeout)
                    except _Transient as exc:
                        sent_before[0] = sent_before[0] or exc.sent
                        raise
        except _Transient as exc:
            raise ProblemError(
                exc.slug,
                f"{self.name}: {exc.detail}",
                upstream=self.name,
                in_doubt=exc.sent or sent_before[0],
                retry_after=_retry_after(exc),
            ) from exc
        except pybreaker.CircuitBreakerError as exc:
            metrics.UPSTREAM_REQUESTS.labels(self._pool.service, self.name, "breaker_open").inc()
            retry_after = max(1, int(self.breaker.reset_timeout))
            raise ProblemError(
                "upstream-unavailable",
                f"{self.name}: circuit breaker open after repeated failures",
                upstream=self.name,
                retry_after=retry_after,
                in_doubt=sent_before[0],  # an earlier attempt of this call may have reached it
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _once(
        self,
        method: str,
        path: str,
        body: bytes | None,
        params: Params | None,
        headers: dict[str, str],
        timeout: aiohttp.ClientTimeout,
    ) -> UpstreamResponse:
        session = self._pool.session()
        started = time.perf_counter()
        outcome = "ok"
        try:
            with self.breaker.calling():
                try:
                    async with session.request(
                        method,
                        self.base_url + _as_path(path),
                        data=body,
                        params=params,
                        headers=headers,
                        timeout=timeout,
                    ) as resp:
                        payload = await resp.read()
                        response = UpstreamResponse(resp.status, resp.headers, payload, self.name)
                except TimeoutError as exc:
                    outcome = "timeout"
                    raise _Transient("upstream-timeout", f"no answer within {timeout.total}s") from exc
                except aiohttp.ClientConnectorError as exc:
                    outcome = "unreachable"
                    raise _Transient(
                        "upstream-unavailable", f"cannot be reached ({type(exc).__name__})", sent=False
                    ) from exc
                except aiohttp.ClientError as exc:
                    # Reset or cut off after the request went out: it may have been acted on.
                    outcome = "reset"
                    raise _Transient("upstream-unavailable", f"connection lost ({type(exc).__name__})") from exc
                if response.status >= 500:
                    outcome = f"{response.status // 100}xx"
                    slug = "upstream-unavailable" if response.status == 503 else "upstream-error"
                    raise _Transient(slug, f"answered {response.status}", response)
                return response
        finally:
            self._latency.observe(time.perf_counter() - started)
            metrics.UPSTREAM_REQUESTS.labels(self._pool.service, self.name, outcome).inc()

    async def get(self, path: str, **kwargs: Any) -> UpstreamResponse:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> UpstreamResponse:
        return await self.request("POST", path, **kwargs)


class Upstreams:
    """The process's hop client: one session, one :class:`Upstream` per configured name."""

    def __init__(self, settings: Settings, *, service: str) -> None:
        self.settings = settings
        self.service = service
        self._session: aiohttp.ClientSession | None = None
        self._upstreams: dict[str, Upstream] = {}

    def session(self) -> aiohttp.ClientSession:
        # Created lazily inside the running loop: aiohttp binds a session to the loop that made it.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=512, limit_per_host=256, ttl_dns_cache=300, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                connector=connector, json_serialize=lambda o: _encoder.encode(o).decode(), raise_for_status=False
            )
        return self._session

    def __getitem__(self, name: str) -> Upstream:
        return self.part(name)

    def part(self, name: str, part: str | None = None) -> Upstream:
        """The hop to upstream ``name``; with ``part``, a hop to the same upstream whose breaker guards that part
        alone (named ``<name> <part>``). The gateway keeps one per route: routes of one experience API depend on
        different systems below it (product pages on the ERP, orders on process-orders), so a route failing
        because its own dependency is down must not have the others refused."""
        key = name if part is None else f"{name} {part}"
        upstream = self._upstreams.get(key)
        if upstream is None:
            breaker = None if part is None else key
            upstream = self._upstreams[key] = Upstream(name, self.settings.url_for(name), self, breaker=breaker)
        return upstream

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
