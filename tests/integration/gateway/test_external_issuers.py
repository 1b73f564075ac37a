"""External issuers (DESIGN §5): tokens of an independent IdP, reached over HTTP as Keycloak or Auth0 would be.

The IdP is tests/integration/gateway/idp.py, started as its own process (it makes its own key, serves its JWKS,
mints and rotates on request and counts JWKS fetches). A second gateway instance starts with an issuers file naming
it; until the request pipeline routes through the check, the check itself (``gateway.access.AccessTokens``) is run
in this process against the IdP process and the estate's Redis, with a controllable clock for cool-downs.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from estate.launcher import free_port
from gateway.access import AccessTokens, load_issuers
from gateway.settings import GatewaySettings
from gateway.tokens import keyring
from shared.problems import ProblemError
from shared.settings import from_env
from tests.estate import TestEstate

pytestmark = pytest.mark.estate

COOLDOWN = 10.0
ROOT = Path(__file__).resolve().parents[3]


@dataclass
class IdP:
    url: str
    process: subprocess.Popen[bytes]

    @property
    def issuer(self) -> str:
        return self.url

    def mint(self, *, header: dict[str, Any] | None = None, **changes: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": ["omnigate", "account"],
            "sub": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
            "customer_ref": "c-2002",
            "scp": ["catalog:read", "orders:read"],
            "azp": "shop-app",
            "iat": now,
            "exp": now + 300,
            **changes,
        }
        answer = httpx.post(self.url + "/_mint", json={"claims": claims, "header": header or {}}, timeout=10)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["token"])

    def rotate(self) -> str:
        return str(httpx.post(self.url + "/_rotate", timeout=10).json()["kid"])

    def jwks_hits(self) -> int:
        return int(httpx.get(self.url + "/_hits", timeout=10).json()["jwks"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def start_idp() -> Iterator[Callable[[], IdP]]:
    """Start IdP processes (each with its own key); every one is stopped after the test."""
    started: list[IdP] = []

    def start() -> IdP:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.gateway.idp", "--port", str(port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        idp = IdP(f"http://127.0.0.1:{port}", process)
        started.append(idp)
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(idp.url + "/healthz", timeout=1).status_code == 200:
                    return idp
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "the IdP process exited"
            assert time.monotonic() < deadline, "the IdP did not start"
            time.sleep(0.1)

    yield start
    for idp in started:
        idp.stop()


def issuers_file(path: Path, idp: IdP) -> Path:
    path.write_text(
        f"""
[[issuer]]
issuer = "{idp.issuer}"
jwks_uri = "{idp.url}/.well-known/jwks.json"
audience = "omnigate"
typ = ["JWT", "at+jwt"]
customer_claim = "customer_ref"
channel = "mobile"
partner_claim = "partner_ref"
scopes_claim = "scp"
client_claim = "azp"
plan = "shopper-standard"
"""
    )
    return path


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def checker(estate: TestEstate, path: Path, clock: Clock) -> Callable[[Callable[[AccessTokens], Any]], Any]:
    """A runner of ``use(tokens)`` (a coroutine function) in a fresh event loop, with an AccessTokens configured by
    the issuers file at ``path`` (the gateway's own keys from the estate's Redis) and ``clock``."""
    settings = from_env(
        GatewaySettings,
        {
            "REDIS_URL": estate.settings.redis_url,
            "OMNIGATE_KEY_PREFIX": estate.prefix,
            "OMNIGATE_GATEWAY_ISSUERS_FILE": str(path),
            "OMNIGATE_GATEWAY_JWKS_COOLDOWN_S": str(COOLDOWN),
            "OMNIGATE_GATEWAY_JWKS_TIMEOUT_S": "1",
        },
    )

    def run(use: Callable[[AccessTokens], Any]) -> Any:
        async def go() -> Any:
            redis = Redis.from_url(settings.redis_url)
            tokens = AccessTokens.build(settings, keyring(redis, settings), clock=clock)
            try:
                return await use(tokens)
            finally:
                await tokens.aclose()
                await redis.aclose()

        return asyncio.run(go())

    return run


def test_a_gateway_instance_starts_with_the_issuers_file(estate: TestEstate, start_idp, tmp_path: Path) -> None:
    path = issuers_file(tmp_path / "issuers.toml", start_idp())
    assert [c.customer_claim for c in load_issuers(path)] == ["customer_ref"]
    url = estate.start_instance("gateway", "issuers", env={"OMNIGATE_GATEWAY_ISSUERS_FILE": str(path)}, workers=1)
    try:
        assert httpx.get(url + "/readyz", timeout=10).status_code == 200
        assert httpx.get(url + "/.well-known/jwks.json", timeout=10).status_code == 200
    finally:
        estate.stop_instance("gateway", "issuers")


def test_an_idp_token_verifies_and_names_the_customer_from_the_configured_claim(
    estate: TestEstate, start_idp, tmp_path: Path
) -> None:
    idp = start_idp()
    run = checker(estate, issuers_file(tmp_path / "issuers.toml", idp), Clock())
    shopper, partner = idp.mint(), idp.mint(partner_ref="p-77")
    wrong_aud, wrong_typ = idp.mint(aud="account"), idp.mint(header={"typ": "id+jwt"})

    async def use(tokens: AccessTokens) -> None:
        caller = await tokens.verify(shopper)
        assert (caller.issuer, caller.channel, caller.customer_id, caller.client_id) == (
            idp.issuer,
            "mobile",
            "c-2002",
            "shop-app",
        )
        assert (caller.scopes, caller.plan, caller.consumer) == (
            {"catalog:read", "orders:read"},
            "shopper-standard",
            "customer:c-2002",
        )
        by_partner = await tokens.verify(partner)
        assert (by_partner.channel, by_partner.partner_id, by_partner.consumer) == ("partner", "p-77", "partner:p-77")
        for bad, detail in ((wrong_aud, "not for omnigate"), (wrong_typ, "typ")):
            with pytest.raises(ProblemError) as caught:
                await tokens.verify(bad)
            assert caught.value.status == 401 and detail in (caught.value.detail or ""), caught.value.detail

    run(use)


def test_an_idp_key_rotation_is_seen_after_one_refetch(estate: TestEstate, start_idp, tmp_path: Path) -> None:
    idp = start_idp()
    clock = Clock()
    run = checker(estate, issuers_file(tmp_path / "issuers.toml", idp), clock)
    before = idp.mint()

    async def use(tokens: AccessTokens) -> None:
        await tokens.verify(before)
        hits = idp.jwks_hits()
        idp.rotate()
        after = idp.mint(customer_ref="c-3003")
        clock.now += COOLDOWN
        assert (await tokens.verify(after)).customer_id == "c-3003"
        assert idp.jwks_hits() == hits + 1
        assert (await tokens.verify(idp.mint(customer_ref="c-3004"))).customer_id == "c-3004"  # no new fetch
        assert (await tokens.verify(before)).customer_id == "c-2002"  # the previous key is still published
        assert idp.jwks_hits() == hits + 1

    run(use)


def test_a_flood_of_unknown_kids_costs_one_fetch_per_cooldown(estate: TestEstate, start_idp, tmp_path: Path) -> None:
    idp = start_idp()
    clock = Clock()
    run = checker(estate, issuers_file(tmp_path / "issuers.toml", idp), clock)
    valid = idp.mint()
    made_up = [idp.mint(header={"kid": uuid.uuid4().hex}) for _ in range(40)]

    async def refused_all(tokens: AccessTokens) -> None:
        results = await asyncio.gather(*(tokens.verify(t) for t in made_up), return_exceptions=True)
        assert all(isinstance(r, ProblemError) and r.status == 401 for r in results), results

    async def use(tokens: AccessTokens) -> None:
        await tokens.verify(valid)  # the first fetch
        hits = idp.jwks_hits()
        clock.now += 1  # within the cool-down of that fetch: the flood causes no fetch at all
        await refused_all(tokens)
        assert idp.jwks_hits() == hits
        clock.now += COOLDOWN  # past it: the whole (concurrent) flood causes one fetch
        await refused_all(tokens)
        await refused_all(tokens)
        assert idp.jwks_hits() == hits + 1

    run(use)


def test_an_idp_down_with_keys_held_still_verifies(estate: TestEstate, start_idp, tmp_path: Path) -> None:
    idp = start_idp()
    clock = Clock()
    run = checker(estate, issuers_file(tmp_path / "issuers.toml", idp), clock)
    later = int(time.time()) + 7200  # the tokens outlive the hour the clock moves on
    first, second = idp.mint(exp=later), idp.mint(customer_ref="c-4004", exp=later)

    async def use(tokens: AccessTokens) -> None:
        await tokens.verify(first)
        idp.stop()
        clock.now += 3600  # past the refresh: the re-fetch fails, the keys held are kept
        assert (await tokens.verify(second)).customer_id == "c-4004"
        assert (await tokens.verify(first)).customer_id == "c-2002"

    run(use)


def test_an_idp_down_with_nothing_held_is_503_not_401(estate: TestEstate, start_idp, tmp_path: Path) -> None:
    idp = start_idp()
    run = checker(estate, issuers_file(tmp_path / "issuers.toml", idp), Clock())
    token = idp.mint()
    idp.stop()

    async def use(tokens: AccessTokens) -> None:
        with pytest.raises(ProblemError) as caught:
            await tokens.verify(token)
        assert (caught.value.status, caught.value.slug) == (503, "service-unavailable")
        assert int(caught.value.headers["Retry-After"]) >= 1
        assert idp.issuer in (caught.value.detail or "")

    run(use)
