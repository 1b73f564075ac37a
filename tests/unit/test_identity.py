"""The identity itself (shape, owner, scopes), the minter's reuse and the keys (shared.identity); the signer's key
ring is test_signing.py."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import msgspec
import pytest
from joserfc.jwk import ECKey, OctKey
from litestar import Request, get
from litestar.testing import TestClient

from shared.identity import (
    HEADER,
    OPERATORS,
    Access,
    Identity,
    Minter,
    PublishedKeys,
    SignerKey,
    TokenRefused,
    algorithm_of,
    generate_key,
    missing,
    public_jwks,
    publish_keys,
    service_identity,
    signer_keys,
)
from shared.models.availability import OWNER_PATTERN
from shared.problems import MEDIA_TYPE, ProblemError
from shared.service import create_service, requires
from shared.settings import Settings, from_env

SHOPPER = Identity(sub="c-1", channel="web", customer_id="c-1", scopes=frozenset({"orders:read", "orders:write"}))


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("identity", "owner"),
    [
        (SHOPPER, "web:c-1"),
        (Identity(sub="u-9", channel="mobile", customer_id="c-2"), "mobile:c-2"),
        (Identity(sub="client-7", channel="partner", partner_id="p-3"), "partner:p-3"),
        (Identity(sub="alice", channel="ops", scopes=frozenset({"ops:*"})), "ops:alice"),
    ],
)
def test_the_owner_is_todays_owner_format(identity: Identity, owner: str) -> None:
    assert identity.owner == owner and identity.require_owner() == owner
    assert re.match(OWNER_PATTERN, owner)


def test_a_service_identity_acts_for_no_owner() -> None:
    identity = service_identity("process-orders")
    assert (identity.channel, identity.service, identity.owner) == ("internal", "process-orders", None)
    with pytest.raises(ProblemError) as caught:
        identity.require_owner()
    assert (caught.value.slug, caught.value.status) == ("forbidden", 403)


@pytest.mark.parametrize(
    "fields",
    [
        {"sub": "c-1", "channel": "web"},
        {"sub": "c-1", "channel": "web", "customer_id": "c-1", "partner_id": "p-1"},
        {"sub": "c-1", "channel": "mobile", "partner_id": "p-1"},
        {"sub": "c-1", "channel": "partner"},
        {"sub": "c-1", "channel": "partner", "partner_id": "p-1", "service": "x"},
        {"sub": "service:x", "channel": "internal"},
        {"sub": "service:x", "channel": "internal", "service": "x", "customer_id": "c-1"},
        {"sub": "alice", "channel": "ops", "customer_id": "c-1"},
        {"sub": "c-1", "channel": "root", "customer_id": "c-1"},
        {"sub": "c 1", "channel": "web", "customer_id": "c-1"},
        {"sub": "c-1", "channel": "web", "customer_id": "c-1", "scopes": ["bad scope"]},
        {"sub": "c-1", "channel": "web", "customer_id": "c-1", "role": "admin"},
    ],
)
def test_an_identity_has_exactly_the_ids_its_channel_names(fields: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(fields, Identity)


def test_scopes_are_a_set_so_order_never_makes_two_identities() -> None:
    a = msgspec.convert({"sub": "c-1", "channel": "web", "customer_id": "c-1", "scopes": ["b", "a"]}, Identity)
    b = msgspec.convert({"sub": "c-1", "channel": "web", "customer_id": "c-1", "scopes": ["a", "b", "a"]}, Identity)
    assert a == b and hash(a) == hash(b)


def test_operator_routes_need_the_ops_channel_and_an_ops_scope() -> None:
    operator = Identity(sub="alice", channel="ops", scopes=frozenset({"ops:read"}))
    assert OPERATORS.check(operator) is operator
    assert Access({"ops": "ops:read"}).check(operator) is operator
    for identity, access in (
        (SHOPPER, OPERATORS),
        (Identity(sub="bob", channel="ops"), OPERATORS),
        (operator, Access({"ops": "ops:write"})),
    ):
        with pytest.raises(ProblemError) as caught:
            access.check(identity)
        assert (caught.value.slug, caught.value.status) == ("forbidden", 403)
        assert 'error="insufficient_scope"' in caught.value.headers["WWW-Authenticate"]


def test_an_access_rule_names_a_scope_per_channel_and_refuses_every_other_channel() -> None:
    readers = Access({"web": "availability:read", "internal": None})
    reader = Identity(sub="c-1", channel="web", customer_id="c-1", scopes=frozenset({"availability:read"}))
    assert readers.check(reader) is reader
    assert readers.check(service_identity("process-orders")).service == "process-orders"  # the channel suffices
    with pytest.raises(ProblemError) as caught:
        readers.check(SHOPPER)  # web, without the scope: the challenge names it (RFC 6750 section 3)
    assert 'scope="availability:read"' in caught.value.headers["WWW-Authenticate"]
    with pytest.raises(ProblemError) as caught:
        readers.check(Identity(sub="p", channel="partner", partner_id="p", scopes=frozenset({"availability:read"})))
    assert caught.value.status == 403 and "not partner" in (caught.value.detail or "")


def test_the_minter_reuses_a_token_until_it_is_near_expiry() -> None:
    clock = Clock()
    minter = Minter(generate_key("ES256"), ttl_s=300, renew_s=60, clock=clock)
    first = minter.mint(SHOPPER)
    clock.now += 239
    assert minter.mint(SHOPPER) == first
    assert minter.mint(Identity(sub="c-2", channel="web", customer_id="c-2")) != first
    clock.now += 1
    renewed = minter.mint(SHOPPER)
    assert renewed != first
    assert minter.mint(SHOPPER) == renewed


def test_the_minter_cache_is_bounded() -> None:
    clock = Clock()
    minter = Minter(generate_key("ES256"), cache_size=2, clock=clock)
    first = minter.mint(SHOPPER)
    for n in range(2):
        minter.mint(Identity(sub=f"c-{n + 10}", channel="web", customer_id=f"c-{n + 10}"))
    assert minter.mint(SHOPPER) != first  # evicted, so signed again


def test_a_minter_needs_a_private_signing_key_of_an_allowed_kind() -> None:
    key = generate_key("RS256")
    with pytest.raises(ValueError):
        Minter(ECKey.import_key(public_jwks([generate_key("ES256")])["keys"][0]))
    with pytest.raises(ValueError):
        algorithm_of(ECKey.generate_key("P-384", auto_kid=True))
    with pytest.raises(ValueError):
        algorithm_of(OctKey.generate_key(256, auto_kid=True))
    assert algorithm_of(key) == "RS256"


async def test_only_public_keys_are_published(aredis: Any, key_prefix: str) -> None:
    key = generate_key("ES256")
    with pytest.raises(ValueError):
        await publish_keys(aredis, key_prefix, "gateway", {"keys": [key.as_dict(private=True)]})


@get("/identity/ops")
async def operator_only(request: Request[Any, Any, Any]) -> dict[str, str]:
    header = request.headers.get(HEADER)
    if not header:
        raise missing()
    OPERATORS.check(SHOPPER)
    return {}


def test_refusals_render_as_problem_json_with_the_challenge() -> None:
    settings = from_env(Settings, {"REDIS_URL": "redis://127.0.0.1:1/0"})
    app = create_service("svc-id", [operator_only], title="t", description="d", uses_redis=False, settings=settings)
    with TestClient(app) as client:
        anonymous = client.get("/identity/ops")
        assert anonymous.status_code == 401 and anonymous.headers["content-type"].startswith(MEDIA_TYPE)
        assert anonymous.json()["type"].endswith("/unauthorized")
        assert anonymous.headers["www-authenticate"] == 'Bearer realm="omnigate-internal"'
        shopper = client.get("/identity/ops", headers={HEADER: "anything"})
        assert shopper.status_code == 403 and shopper.json()["type"].endswith("/forbidden")
        assert shopper.headers["www-authenticate"].startswith(
            'Bearer realm="omnigate-internal", error="insufficient_scope"'
        )


@get("/identity/forgotten", dependencies=requires(OPERATORS))
async def rule_without_identity() -> dict[str, str]:
    return {}


def test_a_route_with_an_identity_rule_must_take_the_identity() -> None:
    """Litestar resolves only the dependencies a handler takes: a rule on a route that does not take
    ``identity`` would never be checked, so the app is not built."""
    settings = from_env(Settings, {"REDIS_URL": "redis://127.0.0.1:1/0"})
    with pytest.raises(TypeError, match="rule_without_identity"):
        create_service(
            "svc-id", [rule_without_identity], title="t", description="d", uses_redis=False, settings=settings
        )


class CountingSource:
    """A key source that counts its reads and takes a moment to answer (as Redis or a JWKS endpoint would)."""

    def __init__(self, keys: list[Any]) -> None:
        self.keys = keys
        self.reads = 0

    async def load(self) -> dict[str, SignerKey]:
        self.reads += 1
        await asyncio.sleep(0.01)
        return signer_keys("gateway", public_jwks(self.keys))


async def test_without_a_cooldown_an_unknown_kid_is_read_at_once_and_waiting_requests_share_the_read() -> None:
    old, new = generate_key("RS256"), generate_key("RS256")
    source = CountingSource([old])
    keys = PublishedKeys([source], cooldown_s=0.0)
    await keys.fresh()
    source.keys = [new, old]  # a rotation, published just after the read
    found = await asyncio.gather(*(keys.find(str(new.kid)) for _ in range(20)))
    assert {f.key.kid for f in found} == {new.kid}
    assert source.reads == 2, "twenty requests for the new kid shared one read"
    # A flood of made-up kids: a request never reads again when a read began after it asked.
    flood = await asyncio.gather(*(keys.find("made-up") for _ in range(50)), return_exceptions=True)
    assert all(isinstance(r, TokenRefused) for r in flood), flood
    assert source.reads <= 4, source.reads


async def test_requests_arriving_while_the_first_read_is_in_flight_wait_for_it() -> None:
    """A worker's first burst (200 orders at once in the no-oversell test) must not answer 503 "the identity keys
    cannot be read" to every request that arrives while the first read of the keys is still in flight."""
    source = CountingSource([generate_key("RS256")])
    keys = PublishedKeys([source])
    outcomes = await asyncio.gather(*(keys.fresh() for _ in range(50)), return_exceptions=True)
    assert outcomes == [None] * 50, [o for o in outcomes if o is not None][:3]
    assert source.reads == 1
