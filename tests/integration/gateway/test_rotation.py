"""A rotation of the gateway's signing keys while callers are using it (issue 8; DESIGN §5): after ``omnigate keys
rotate`` the access tokens issued before keep working through the gateway until they expire, the tokens issued
after carry the new ``kid`` and work at once on every gateway worker, and the layers below verify internal
identities signed with the new key without a restart. Expiry is shown on a second gateway instance with no
leeway, so that a short-lived token is refused seconds after its ``exp`` rather than the estate's 30 s later.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from joserfc import jws

from shared.identity import HEADER as IDENTITY
from tests.estate import TestEstate, assert_problem

pytestmark = pytest.mark.estate

WEB = "/web/v1/orders"
PARTNER = "/partner/v1/orders"
ROUNDS = 12  # requests on fresh connections, which spread over the gateway's workers


def new_id(kind: str) -> str:
    return f"{kind}-rot-{uuid.uuid4().hex[:8]}"


def kid_of(token: str) -> str:
    return str(jws.extract_compact(token.encode()).headers()["kid"])


def issued(gateway: httpx.Client, client_id: str, secret: str) -> str:
    """An access token from ``POST /oauth/token`` (client_credentials, RFC 6749 §4.4)."""
    response = gateway.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def statuses(base_url: str, path: str, token: str, rounds: int = ROUNDS) -> set[tuple[int, str]]:
    """The status each request with ``token`` got, and which worker served it, each on a fresh connection."""
    found: set[tuple[int, str]] = set()
    for _ in range(rounds):
        with httpx.Client(base_url=base_url, timeout=15) as fresh:
            response = fresh.get(path, headers={"Authorization": f"Bearer {token}"})
        found.add((response.status_code, response.headers.get("x-served-by", "?")))
    return found


def test_tokens_from_before_a_rotation_keep_working_and_new_ones_carry_the_new_kid(
    estate: TestEstate,
    gateway: httpx.Client,
    new_client: Callable[..., tuple[str, str]],
    shopper_token: Callable[..., str],
    omnigate: Callable[..., str],
) -> None:
    base = estate.url("gateway")
    client_id, secret = new_client("orders:read orders:write", partner=new_id("p"))
    customer = new_id("c")
    partner_before, shopper_before = issued(gateway, client_id, secret), shopper_token(customer, "web")
    old_kid = kid_of(partner_before)
    assert kid_of(shopper_before) == old_kid
    assert {s for s, _ in statuses(base, PARTNER, partner_before)} == {200}
    assert {s for s, _ in statuses(base, WEB, shopper_before)} == {200}

    new_kid = omnigate("keys", "rotate").split("current kid:")[1].split()[0]
    assert new_kid != old_kid

    # Issued before: still good on every worker (the previous key stays published until its tokens expire).
    for path, token in ((PARTNER, partner_before), (WEB, shopper_before)):
        answered = statuses(base, path, token)
        assert {s for s, _ in answered} == {200}, answered
        assert len({w for _, w in answered}) == estate.workers("gateway"), answered
    # Issued after, by the token endpoint and by the CLI: the new kid, good at once on every worker.
    partner_after, shopper_after = issued(gateway, client_id, secret), shopper_token(customer, "web")
    assert kid_of(partner_after) == kid_of(shopper_after) == new_kid
    for path, token in ((PARTNER, partner_after), (WEB, shopper_after)):
        answered = statuses(base, path, token)
        assert {s for s, _ in answered} == {200}, answered
        assert len({w for _, w in answered}) == estate.workers("gateway"), answered


def test_the_layers_below_verify_identities_signed_with_the_new_key_without_a_restart(
    estate: TestEstate, omnigate: Callable[..., str]
) -> None:
    """An identity signed with the new key (``omnigate identity`` signs as the gateway does) is accepted by
    experience-web, which passes it to process-orders, which verifies it again: neither was restarted."""
    customer = new_id("c")
    web = estate.url("experience-web") + WEB
    before = omnigate("identity", "--channel", "web", "--subject", customer, "--scopes", "orders:read").strip()
    assert httpx.get(web, headers={IDENTITY: before}, timeout=10).status_code == 200  # both have read the keys

    new_kid = omnigate("keys", "rotate").split("current kid:")[1].split()[0]
    after = omnigate("identity", "--channel", "web", "--subject", customer, "--scopes", "orders:read").strip()
    assert kid_of(after) == new_kid != kid_of(before)

    # At once, on both workers: a verifier reads the published keys again on an unknown kid (no cool-down), as the
    # gateway may start signing with the new key at its very next look at the ring.
    answers = [httpx.get(web, headers={IDENTITY: after}, timeout=10) for _ in range(ROUNDS)]
    assert [a.status_code for a in answers] == [200] * ROUNDS, [a.text for a in answers if a.status_code != 200]
    assert len({a.headers["x-served-by"] for a in answers}) == estate.workers("experience-web")
    assert httpx.get(web, headers={IDENTITY: before}, timeout=10).status_code == 200  # the previous key too


def test_tokens_are_refused_once_they_expire(
    estate: TestEstate, shopper_token: Callable[..., str], omnigate: Callable[..., str]
) -> None:
    """Short-lived tokens (``omnigate token --ttl``) signed before a rotation work after it, then expire."""
    strict = estate.start_instance("gateway", "rotation", env={"OMNIGATE_GATEWAY_LEEWAY_S": "0"}, workers=1)
    try:
        customer = new_id("c")
        ttl_s = 3
        short = omnigate("token", "--sub", customer, "--channel", "web", "--ttl", str(ttl_s)).strip()
        expires = time.time() + ttl_s
        assert {s for s, _ in statuses(strict, WEB, short, rounds=1)} == {200}
        omnigate("keys", "rotate")
        assert {s for s, _ in statuses(strict, WEB, short, rounds=1)} == {200}  # the old key still verifies
        time.sleep(max(0.0, expires - time.time()) + 1.1)
        refused = httpx.get(strict + WEB, headers={"Authorization": f"Bearer {short}"}, timeout=10)
        problem = assert_problem(refused, 401, "unauthorized")
        assert "expired" in str(problem["detail"]), problem
        assert refused.headers["www-authenticate"].startswith('Bearer realm="omnigate", error="invalid_token"')
        assert shopper_token(customer, "web")  # a new token is the way back
    finally:
        estate.stop_instance("gateway", "rotation")
