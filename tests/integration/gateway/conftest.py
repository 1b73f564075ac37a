"""The gateway's test helpers, as fixtures: a client of the running gateway, the ``omnigate`` CLI run in this
process against the estate's Redis (the code path operators use; ``omnigate_refused`` for a command that must
fail), the partner keys of the estate's Redis, the JWKS the gateway serves, the gateway's check of access
tokens (``gateway.access.AccessTokens``) run in this process against the estate's Redis, the gateway's current
signing key (to forge tokens with) and the request counts of the layers below the gateway (to show that a refused
request got nowhere)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from joserfc.jwk import Key, KeySet
from redis.asyncio import Redis

from estate import cli
from gateway.access import AccessTokens, Caller
from gateway.cli import with_partner_keys
from gateway.partners import PartnerKeys
from gateway.settings import GatewaySettings
from gateway.tokens import keyring
from tests.estate import TestEstate

Cli = Callable[..., str]
Served = Callable[[], dict[str, float]]
T = TypeVar("T")
KeysRun = Callable[[Callable[[PartnerKeys], Awaitable[Any]]], Any]


@pytest.fixture(scope="module")
def gateway_settings(estate: TestEstate) -> GatewaySettings:
    return estate.settings_of(GatewaySettings)


@pytest.fixture
def gateway(estate: TestEstate) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=estate.url("gateway"), timeout=15) as client:
        yield client


@pytest.fixture
def omnigate(
    gateway_settings: GatewaySettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    """Run an ``omnigate`` command as an operator would (its settings from the environment); returns its stdout."""
    monkeypatch.setenv("REDIS_URL", gateway_settings.redis_url)
    monkeypatch.setenv("OMNIGATE_KEY_PREFIX", gateway_settings.key_prefix)
    monkeypatch.setenv("OMNIGATE_GATEWAY_CLIENT_SECRET_PEPPER", gateway_settings.gateway_client_secret_pepper)
    monkeypatch.setenv("OMNIGATE_GATEWAY_TOKEN_TTL_S", str(gateway_settings.gateway_token_ttl_s))
    monkeypatch.setenv("OMNIGATE_GATEWAY_LEEWAY_S", str(gateway_settings.gateway_leeway_s))
    monkeypatch.setenv("OMNIGATE_GATEWAY_ISSUER", gateway_settings.gateway_issuer)

    def run(*argv: str) -> str:
        capsys.readouterr()
        code = cli.main(list(argv))
        out = capsys.readouterr()
        assert code == 0, out.err
        return out.out

    return run


@pytest.fixture
def omnigate_refused(omnigate: Cli, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run an ``omnigate`` command that must be refused (exit status 2, nothing on stdout); returns its stderr."""

    def run(*argv: str) -> str:
        capsys.readouterr()
        code = cli.main(list(argv))
        out = capsys.readouterr()
        assert (code, out.out) == (2, ""), out
        return out.err

    return run


@pytest.fixture
def partner_keys(gateway_settings: GatewaySettings) -> KeysRun:
    """Run an async function on the partner API keys of the estate's state Redis, as the gateway reads them (its
    pepper and plans), in an event loop of its own (the CLI's own helper); returns what the function returned."""

    def run(action: Callable[[PartnerKeys], Awaitable[T]]) -> T:
        return asyncio.run(with_partner_keys(gateway_settings, action))

    return run


@pytest.fixture
def new_client(omnigate: Cli) -> Callable[[str], tuple[str, str]]:
    """``omnigate clients create`` with these scopes: the client's id and secret, as printed."""

    def create(scopes: str, partner: str | None = None) -> tuple[str, str]:
        argv = ["clients", "create", "--name", "integration test", "--scopes", scopes]
        printed = omnigate(*argv, *(["--partner", partner] if partner else []))
        fields = dict(line.split(":", 1) for line in printed.splitlines() if ":" in line)
        return fields["client_id"].strip(), fields["client_secret"].strip()

    return create


@pytest.fixture
def served_jwks(gateway: httpx.Client) -> Callable[[], KeySet]:
    def fetch() -> KeySet:
        response = gateway.get("/.well-known/jwks.json")
        assert response.status_code == 200, response.text
        return KeySet.import_key_set(response.json())

    return fetch


@pytest.fixture
def check_access(gateway_settings: GatewaySettings) -> Callable[[str], Caller]:
    """The caller a bearer token names, checked as the gateway checks it (a fresh AccessTokens each time, so it
    reads the keys as they are now); a refused token raises its ProblemError."""

    def check(token: str) -> Caller:
        async def run() -> Caller:
            redis = Redis.from_url(gateway_settings.redis_url)
            tokens = AccessTokens.build(gateway_settings, keyring(redis, gateway_settings))
            try:
                return await tokens.verify(token)
            finally:
                await tokens.aclose()
                await redis.aclose()

        return asyncio.run(run())

    return check


@pytest.fixture
def shopper_token(omnigate: Cli) -> Callable[..., str]:
    """``omnigate token --sub CUSTOMER --channel web|mobile``: a shopper's access token, as printed."""

    def mint(customer: str, channel: str = "web", scopes: str | None = None) -> str:
        argv = ["token", "--sub", customer, "--channel", channel, *(["--scopes", scopes] if scopes else [])]
        return omnigate(*argv).strip()

    return mint


@pytest.fixture
def partner_key(omnigate: Cli) -> Callable[..., str]:
    """``omnigate partners create --partner ID --plan NAME``: the partner's API key, as printed (once)."""

    def create(partner: str, plan: str = "sandbox") -> str:
        printed = omnigate("partners", "create", "--partner", partner, "--plan", plan)
        fields = dict(line.split(":", 1) for line in printed.splitlines() if ":" in line)
        return fields["api_key"].strip()

    return create


@pytest.fixture
def signing_key(gateway_settings: GatewaySettings) -> Callable[[], Key]:
    """The gateway's current private signing key, as it is in the state Redis now (to forge tokens with: whoever
    holds the state Redis holds the keys, shared/signing.py)."""

    def current() -> Key:
        async def read() -> Key:
            redis = Redis.from_url(gateway_settings.redis_url)
            try:
                return (await keyring(redis, gateway_settings).current()).current
            finally:
                await redis.aclose()

        return asyncio.run(read())

    return current


# The layers below the gateway that a forwarded order request reaches: the experience APIs and process-orders.
BELOW_THE_GATEWAY = ("experience-web", "experience-mobile", "experience-partner", "process-orders")


@pytest.fixture
def upstream_served(estate: TestEstate) -> Served:
    """``served()``: how many requests each layer below the gateway (:data:`BELOW_THE_GATEWAY`) has answered, every
    worker and every status counted, as one settled snapshot. Compare a read before and after a refused request:
    equal means nothing got through."""
    return lambda: estate.served_by(BELOW_THE_GATEWAY)
