"""The gateway's security corpus, end to end (issue 8; DESIGN §5; RFC 6750, RFC 7519, RFC 8725): every forged,
stale or misplaced credential sent to the running gateway is a 401 or 403 problem+json with RFC 6750's challenge,
and nothing of it gets through: the request counts of the experience APIs and process-orders (their /metrics,
the ``upstream_served`` fixture) are the same after as before. A caller's own token or a bare owner header sent
past the gateway is refused by the layers below (they accept only the gateway's internal identities), an
``X-Omnigate-Identity`` a caller sends the gateway never reaches them, and one caller never sees, nor replays,
another's orders.

Tokens are forged as an attacker with every advantage would: signed with the gateway's own current key (read
from the state Redis) where the forgery is in the claims or header, and by hand where joserfc refuses to make
such a token (``alg: none``, HS256 keyed with our public key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import Key

from gateway.settings import GatewaySettings
from shared.identity import HEADER as IDENTITY
from shared.identity import generate_key
from tests.estate import TestEstate, assert_problem, order_body

pytestmark = pytest.mark.estate

Served = Callable[[], dict[str, float]]
WEB = "/web/v1/orders"
PARTNER = "/partner/v1/orders"
# RFC 6750 §3: a refused token's challenge; error_description holds only %x20-21 / %x23-5B / %x5D-7E.
INVALID_TOKEN = re.compile(
    r'Bearer realm="omnigate", error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]+"'
)
NO_CREDENTIAL = 'Bearer realm="omnigate"'  # RFC 6750 §3.1: no token, no error code


def new_id(kind: str) -> str:
    return f"{kind}-sec-{uuid.uuid4().hex[:8]}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Forge:
    """What a forger works with: the gateway's current key and settings, and a customer to claim to be."""

    key: Key
    settings: GatewaySettings
    customer: str

    def claims(self, **changes: Any) -> dict[str, Any]:
        """The claims the gateway mints for a web shopper (gateway/tokens.py), with ``changes`` (None drops one)."""
        now = int(time.time())
        found: dict[str, Any] = {
            "iss": self.settings.gateway_issuer.rstrip("/"),
            "aud": "omnigate",
            "sub": self.customer,
            "client_id": "omnigate-cli",
            "scope": "orders:read orders:write",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "channel": "web",
            "customer_id": self.customer,
        }
        found.update(changes)
        return {k: v for k, v in found.items() if v is not None}

    def signed(self, payload: dict[str, Any] | None = None, *, key: Key | None = None, **header: Any) -> str:
        """A token really signed (with ``key``, default ours), with the header we mint or the one given."""
        key = key or self.key
        protected = {"alg": "RS256", "kid": key.kid, "typ": "at+jwt", **header}
        body = json.dumps(payload or self.claims()).encode()
        return jws.serialize_compact(protected, body, key, algorithms=[protected["alg"]])

    def unsigned(self, alg: str) -> str:
        """``alg`` in the header, no signature (joserfc will not make one: by hand)."""
        head = b64(json.dumps({"alg": alg, "typ": "at+jwt", "kid": self.key.kid}).encode())
        return f"{head}.{b64(json.dumps(self.claims()).encode())}."

    def hs256_with_public_key(self) -> str:
        """The classic confusion (RFC 8725 §2.1): an HMAC keyed with the bytes of our public key (by hand)."""
        head = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": self.key.kid}).encode())
        signing_input = f"{head}.{b64(json.dumps(self.claims()).encode())}"
        mac = hmac.new(self.key.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(mac)}"

    def tampered_payload(self) -> str:
        """Our valid token with its claims swapped for another customer's: the signature no longer covers them."""
        head, _, signature = self.signed().split(".")
        forged = self.claims(sub="c-someone-else", customer_id="c-someone-else")
        return f"{head}.{b64(json.dumps(forged).encode())}.{signature}"

    def tampered_signature(self) -> str:
        head, body, signature = self.signed().split(".")
        raw = unb64(signature)
        return f"{head}.{body}.{b64(bytes([raw[0] ^ 1]) + raw[1:])}"


# name -> (how the token is forged, what the refusal says about it)
FORGED: dict[str, tuple[Callable[[Forge], str], str]] = {
    "expired": (
        lambda f: f.signed(
            f.claims(iat=int(time.time()) - 900, exp=int(time.time()) - f.settings.gateway_leeway_s - 60)
        ),
        "expired",
    ),
    "not-yet-valid": (
        lambda f: f.signed(f.claims(nbf=int(time.time()) + f.settings.gateway_leeway_s + 120)),
        "not valid yet",
    ),
    "wrong-issuer": (lambda f: f.signed(f.claims(iss="https://evil.example.com")), "issuer"),
    "wrong-audience": (lambda f: f.signed(f.claims(aud="someone-else")), "not for omnigate"),
    "wrong-audience-array": (
        lambda f: f.signed(f.claims(aud=["someone-else", "omnigate-internal"])),
        "not for omnigate",
    ),
    "alg-none": (lambda f: f.unsigned("none"), "algorithm"),
    "hs256-keyed-with-our-public-key": (lambda f: f.hs256_with_public_key(), "algorithm"),
    "foreign-key-under-our-kid": (lambda f: f.signed(key=generate_key("RS256"), kid=f.key.kid), "signature"),
    "unknown-kid": (lambda f: f.signed(key=generate_key("RS256")), "not published"),
    "jku-header": (lambda f: f.signed(jku="https://evil.example.com/jwks.json"), "may not carry"),
    "x5u-header": (lambda f: f.signed(x5u="https://evil.example.com/cert.pem"), "may not carry"),
    "tampered-payload": (lambda f: f.tampered_payload(), "signature"),
    "tampered-signature": (lambda f: f.tampered_signature(), "signature"),
    "not-a-jws": (lambda f: "not.a.token", "compact JWS"),
}


@pytest.fixture
def forge(signing_key: Callable[[], Key], gateway_settings: GatewaySettings) -> Forge:
    return Forge(signing_key(), gateway_settings, new_id("c"))


def requests_at_every_route(gateway: httpx.Client, headers: dict[str, str]) -> list[httpx.Response]:
    """The same credential at the web shop's order reads and writes and the partners' order reads."""
    sku_free_body = order_body("SKU-NONE", customer="c-1")
    return [
        gateway.get(WEB, headers=headers),
        gateway.post(WEB, json=sku_free_body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}),
        gateway.get(PARTNER, headers=headers),
    ]


def assert_unauthorized(response: httpx.Response, *, challenge: str | re.Pattern[str], detail: str = "") -> None:
    problem = assert_problem(response, 401, "unauthorized")
    found = response.headers["www-authenticate"]
    if isinstance(challenge, str):
        assert found == challenge, found
    else:
        assert challenge.fullmatch(found), found
    assert detail in str(problem["detail"]), problem


def assert_insufficient(response: httpx.Response, scope: str) -> None:
    assert_problem(response, 403, "forbidden")
    found = response.headers["www-authenticate"]
    assert found.startswith('Bearer realm="omnigate", error="insufficient_scope"'), found
    assert found.endswith(f'scope="{scope}"'), found


def key_id(api_key: str) -> str:
    return api_key.split("_", 2)[1]


# --- the forging kit works: a token it signs right is let through (so the refusals below are for the forgery) ----


def test_a_token_forged_right_with_our_key_gets_through(
    gateway: httpx.Client, forge: Forge, upstream_served: Served
) -> None:
    before = upstream_served()
    answer = gateway.get(WEB, headers={"Authorization": f"Bearer {forge.signed()}"})
    assert answer.status_code == 200, answer.text
    after = upstream_served()
    assert after["experience-web"] == before["experience-web"] + 1, (before, after)
    assert after["process-orders"] == before["process-orders"] + 1, (before, after)


# --- bearer tokens ------------------------------------------------------------------------------------------------


def test_no_credential_is_a_challenge_without_an_error_code(gateway: httpx.Client, upstream_served: Served) -> None:
    before = upstream_served()
    for response in requests_at_every_route(gateway, {}):
        assert_unauthorized(response, challenge=NO_CREDENTIAL, detail="Authorization")
    assert upstream_served() == before


@pytest.mark.parametrize("case", sorted(FORGED))
def test_a_forged_or_stale_token_is_refused_before_any_hop(
    case: str, gateway: httpx.Client, forge: Forge, upstream_served: Served
) -> None:
    make, reason = FORGED[case]
    token = make(forge)
    before = upstream_served()
    for response in requests_at_every_route(gateway, {"Authorization": f"Bearer {token}"}):
        assert_unauthorized(response, challenge=INVALID_TOKEN, detail=reason)
    assert upstream_served() == before


def test_another_authorization_scheme_is_refused(gateway: httpx.Client, upstream_served: Served) -> None:
    before = upstream_served()
    basic = "Basic " + base64.b64encode(b"c-1:secret").decode()
    for response in requests_at_every_route(gateway, {"Authorization": basic}):
        assert_unauthorized(response, challenge=INVALID_TOKEN, detail="not a Bearer token")
    assert upstream_served() == before


def test_an_identity_token_is_not_an_access_token(
    gateway: httpx.Client, estate: TestEstate, upstream_served: Served
) -> None:
    """The gateway's internal identity token (audience omnigate-internal, another typ) sent as a bearer token."""
    token = estate.identity(f"web:{new_id('c')}")[IDENTITY]
    before = upstream_served()
    for response in requests_at_every_route(gateway, {"Authorization": f"Bearer {token}"}):
        assert_unauthorized(response, challenge=INVALID_TOKEN, detail="issuer")
    assert upstream_served() == before


def test_a_missing_scope_is_403_insufficient_scope(
    gateway: httpx.Client, shopper_token: Callable[..., str], upstream_served: Served
) -> None:
    customer = new_id("c")
    reader = {"Authorization": f"Bearer {shopper_token(customer, 'web', 'orders:read')}"}
    writer = {"Authorization": f"Bearer {shopper_token(customer, 'web', 'orders:write')}"}
    before = upstream_served()
    assert_insufficient(
        gateway.post(WEB, json=order_body("SKU-NONE", customer=customer), headers={**reader, "Idempotency-Key": "k1"}),
        "orders:write",
    )
    assert_insufficient(gateway.get(WEB, headers=writer), "orders:read")
    assert_insufficient(gateway.get(WEB + "/o-1/timeline", headers=writer), "orders:read")
    assert upstream_served() == before


def test_a_token_of_another_channel_is_403(
    gateway: httpx.Client, shopper_token: Callable[..., str], upstream_served: Served
) -> None:
    customer = new_id("c")
    mobile = {"Authorization": f"Bearer {shopper_token(customer, 'mobile')}"}
    web = {"Authorization": f"Bearer {shopper_token(customer, 'web')}"}
    before = upstream_served()
    for response in (
        gateway.get(WEB, headers=mobile),
        gateway.post(WEB, json=order_body("SKU-NONE", customer=customer), headers={**mobile, "Idempotency-Key": "k"}),
        gateway.get("/mobile/v1/orders", headers=web),
        gateway.get(PARTNER, headers=web),
    ):
        problem = assert_problem(response, 403, "forbidden")
        assert "channel" in str(problem["detail"]), problem
        assert response.headers["www-authenticate"].startswith('Bearer realm="omnigate", error="insufficient_scope"')
    assert upstream_served() == before


def test_a_web_client_token_naming_no_customer_is_403_at_a_web_route(
    gateway: httpx.Client, omnigate: Callable[..., str], upstream_served: Served
) -> None:
    printed = omnigate("clients", "create", "--name", "a web backend", "--scopes", "orders:read", "--channel", "web")
    fields = dict(line.split(":", 1) for line in printed.splitlines() if ":" in line)
    issued = gateway.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(fields["client_id"].strip(), fields["client_secret"].strip()),
    )
    assert issued.status_code == 200, issued.text
    before = upstream_served()
    response = gateway.get(WEB, headers={"Authorization": f"Bearer {issued.json()['access_token']}"})
    problem = assert_problem(response, 403, "forbidden")
    assert "customer" in str(problem["detail"]), problem
    assert response.headers["www-authenticate"].startswith('Bearer realm="omnigate", error="insufficient_scope"')
    assert upstream_served() == before


# --- partner API keys ---------------------------------------------------------------------------------------------

API_KEY_CHALLENGE = 'ApiKey realm="omnigate"'


def test_a_revoked_partner_key_is_refused(
    gateway: httpx.Client, partner_key: Callable[..., str], omnigate: Callable[..., str], upstream_served: Served
) -> None:
    key = partner_key(new_id("p"))
    # Each on a new connection, so that every worker of the gateway has accepted the key (and keeps it in its LRU)
    # before it is revoked: the revocation must still be seen by the next request on any of them.
    fresh = {"X-API-Key": key, "Connection": "close"}
    assert {gateway.get(PARTNER, headers=fresh).status_code for _ in range(12)} == {200}
    omnigate("partners", "revoke", "--key", key_id(key))
    before = upstream_served()
    for response in (
        *(gateway.get(PARTNER, headers=fresh) for _ in range(12)),
        gateway.post(PARTNER, json=order_body("SKU-NONE"), headers={"X-API-Key": key, "Idempotency-Key": "k"}),
    ):
        assert_unauthorized(response, challenge=API_KEY_CHALLENGE)
    assert upstream_served() == before


def test_a_known_partner_key_costs_one_round_trip_to_the_state_redis(
    gateway: httpx.Client, partner_key: Callable[..., str], estate: TestEstate
) -> None:
    """A key a worker accepted before is not read again (HGETALL of its record): its state is checked in the
    limits' script. The layers below use the same Redis (their HGETs and scripts), so only the key reads are
    counted, with room for a little unrelated traffic, far below one per request."""
    key = partner_key(new_id("p"))
    assert gateway.get(PARTNER, headers={"X-API-Key": key}).status_code == 200  # this connection's worker knows it
    before = estate.redis_calls("hgetall")
    assert {gateway.get(PARTNER, headers={"X-API-Key": key}).status_code for _ in range(40)} == {200}
    after = estate.redis_calls("hgetall")
    assert after["hgetall"] - before["hgetall"] <= 4, (before, after)


def test_a_key_rotated_out_and_revoked_is_refused_and_its_successor_works(
    gateway: httpx.Client, partner_key: Callable[..., str], omnigate: Callable[..., str], upstream_served: Served
) -> None:
    partner = new_id("p")
    old = partner_key(partner)
    printed = omnigate("partners", "rotate", "--partner", partner)
    new = dict(line.split(":", 1) for line in printed.splitlines() if ":" in line)["api_key"].strip()
    assert gateway.get(PARTNER, headers={"X-API-Key": old}).status_code == 200  # both live during the rotation
    omnigate("partners", "revoke", "--key", key_id(old))
    before = upstream_served()
    assert_unauthorized(gateway.get(PARTNER, headers={"X-API-Key": old}), challenge=API_KEY_CHALLENGE)
    assert upstream_served() == before
    assert gateway.get(PARTNER, headers={"X-API-Key": new}).status_code == 200


MALFORMED_KEYS = (
    "og_",
    "not-a-key",
    "og_0123456789abcdef_short",
    "og_0123456789ABCDEF_" + "a" * 43,  # an upper-case key id
    "og_" + "0" * 16 + "_" + "a" * 43,  # well-formed, never issued
    "og_" + "0" * 16 + "_" + "a" * 43 + "x" * 4000,  # oversized
)


def test_a_malformed_or_unknown_api_key_is_refused(gateway: httpx.Client, upstream_served: Served) -> None:
    before = upstream_served()
    for presented in MALFORMED_KEYS:
        for response in (
            gateway.get(PARTNER, headers={"X-API-Key": presented}),
            gateway.post(
                PARTNER, json=order_body("SKU-NONE"), headers={"X-API-Key": presented, "Idempotency-Key": "k"}
            ),
        ):
            assert_unauthorized(response, challenge=API_KEY_CHALLENGE)
    assert upstream_served() == before


def test_an_api_key_at_an_oauth_only_route_is_no_credential(
    gateway: httpx.Client, partner_key: Callable[..., str], upstream_served: Served
) -> None:
    key = partner_key(new_id("p"))
    before = upstream_served()
    for response in (
        gateway.get(WEB, headers={"X-API-Key": key}),
        gateway.post(WEB, json=order_body("SKU-NONE"), headers={"X-API-Key": key, "Idempotency-Key": "k"}),
        gateway.get("/mobile/v1/orders", headers={"X-API-Key": key}),
    ):
        assert_unauthorized(response, challenge=NO_CREDENTIAL, detail="Authorization")
    assert upstream_served() == before


def test_a_bearer_token_and_an_api_key_together_are_refused(
    gateway: httpx.Client,
    partner_key: Callable[..., str],
    new_client: Callable[..., tuple[str, str]],
    shopper_token: Callable[..., str],
    upstream_served: Served,
) -> None:
    partner = new_id("p")
    key = partner_key(partner)
    client_id, secret = new_client("orders:read orders:write", partner=partner)
    issued = gateway.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert issued.status_code == 200, issued.text
    partner_bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    assert gateway.get(PARTNER, headers=partner_bearer).status_code == 200  # each alone is a caller
    assert gateway.get(PARTNER, headers={"X-API-Key": key}).status_code == 200
    shopper = {"Authorization": f"Bearer {shopper_token(new_id('c'), 'web')}"}
    before = upstream_served()
    for response in (
        gateway.get(PARTNER, headers={**partner_bearer, "X-API-Key": key}),
        gateway.post(PARTNER, json=order_body("SKU-NONE"), headers={**partner_bearer, "X-API-Key": key}),
        gateway.get(WEB, headers={**shopper, "X-API-Key": key}),
    ):
        assert_unauthorized(response, challenge=INVALID_TOKEN, detail="one credential")
    assert upstream_served() == before


# --- internal identities: the gateway's to mint, never a caller's to send ------------------------------------------


def test_an_identity_token_sent_to_the_gateway_is_no_credential(
    gateway: httpx.Client, estate: TestEstate, upstream_served: Served
) -> None:
    customer, partner = estate.identity(f"web:{new_id('c')}"), estate.identity(f"partner:{new_id('p')}")
    before = upstream_served()
    for response in (
        gateway.get(WEB, headers=customer),
        gateway.post(WEB, json=order_body("SKU-NONE"), headers={**customer, "Idempotency-Key": "k"}),
        gateway.get(PARTNER, headers=partner),
    ):
        assert_unauthorized(response, challenge=NO_CREDENTIAL, detail="Authorization")
    assert upstream_served() == before


def test_an_identity_sent_beside_a_valid_token_never_reaches_the_experience_api(
    gateway: httpx.Client, estate: TestEstate, shopper_token: Callable[..., str]
) -> None:
    """Bram sends Anna's identity token with his own access token: he sees his orders, never hers, and what he
    places is his."""
    (sku,) = estate.fresh_skus(1)
    estate.set_dc_stock(sku, 5)
    anna, bram = new_id("c"), new_id("c")
    anna_auth = {"Authorization": f"Bearer {shopper_token(anna, 'web')}"}
    annas = gateway.post(
        WEB, json=order_body(sku, customer=anna), headers={**anna_auth, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert annas.status_code == 201, annas.text
    as_anna = {"Authorization": f"Bearer {shopper_token(bram, 'web')}", **estate.identity(f"web:{anna}")}
    mine = gateway.get(WEB, headers=as_anna)
    assert mine.status_code == 200 and mine.json()["items"] == [], mine.text
    assert_problem(gateway.get(f"{WEB}/{annas.json()['id']}", headers=as_anna), 404, "not-found")
    placed = gateway.post(
        WEB, json=order_body(sku, customer=bram), headers={**as_anna, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert placed.status_code == 201, placed.text
    assert estate.order_record(placed.json()["id"])["owner"] == f"web:{bram}"
    assert [o["id"] for o in gateway.get(WEB, headers=as_anna).json()["items"]] == [placed.json()["id"]]
    assert [o["id"] for o in gateway.get(WEB, headers=anna_auth).json()["items"]] == [annas.json()["id"]]


def test_a_callers_token_sent_past_the_gateway_is_refused(
    estate: TestEstate, shopper_token: Callable[..., str], upstream_served: Served
) -> None:
    """The experience APIs and process-orders accept only the gateway's internal identities: a caller's own access
    token (as a bearer token or in the identity header) and a bare owner header are 401 there."""
    customer = new_id("c")
    token = shopper_token(customer, "web")
    web, orders = estate.url("experience-web") + WEB, estate.url("process-orders") + "/orders"
    before = upstream_served()
    for url in (web, orders):
        missing = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert_unauthorized(missing, challenge='Bearer realm="omnigate-internal"')
        refused = httpx.get(url, headers={IDENTITY: token}, timeout=10)
        assert_problem(refused, 401, "unauthorized")
        assert refused.headers["www-authenticate"].startswith(
            'Bearer realm="omnigate-internal", error="invalid_token"'
        ), refused.headers
    owner = httpx.get(orders, headers={"X-Omnigate-Owner": f"web:{customer}"}, timeout=10)
    assert_unauthorized(owner, challenge='Bearer realm="omnigate-internal"')
    after = upstream_served()
    assert after["experience-web"] == before["experience-web"] + 2, (before, after)
    assert after["process-orders"] == before["process-orders"] + 3, (before, after)  # its own refusals, no more
    assert {k: v for k, v in after.items() if k not in ("experience-web", "process-orders")} == {
        k: v for k, v in before.items() if k not in ("experience-web", "process-orders")
    }


# --- isolation: one caller's orders and idempotency keys are theirs alone ----------------------------------------


def test_another_customers_order_is_404_and_their_key_never_replays(
    gateway: httpx.Client, estate: TestEstate, shopper_token: Callable[..., str]
) -> None:
    (sku,) = estate.fresh_skus(1)
    estate.set_dc_stock(sku, 5)
    anna, bram = new_id("c"), new_id("c")
    as_anna = {"Authorization": f"Bearer {shopper_token(anna, 'web')}"}
    as_bram = {"Authorization": f"Bearer {shopper_token(bram, 'web')}"}
    key = uuid.uuid4().hex
    first = gateway.post(WEB, json=order_body(sku, customer=anna), headers={**as_anna, "Idempotency-Key": key})
    assert first.status_code == 201, first.text
    order_id = first.json()["id"]
    for response in (
        gateway.get(f"{WEB}/{order_id}", headers=as_bram),
        gateway.get(f"{WEB}/{order_id}/timeline", headers=as_bram),
        gateway.post(f"{WEB}/{order_id}/cancel", json={"reason": "not mine"}, headers=as_bram),
    ):
        assert_problem(response, 404, "not-found")
    # The same key from another customer is that customer's own request: a second order, never Anna's answer.
    second = gateway.post(WEB, json=order_body(sku, customer=bram), headers={**as_bram, "Idempotency-Key": key})
    assert second.status_code == 201, second.text
    assert second.json()["id"] != order_id
    assert estate.order_record(second.json()["id"])["owner"] == f"web:{bram}"
    assert [o["id"] for o in gateway.get(WEB, headers=as_bram).json()["items"]] == [second.json()["id"]]
    assert [o["id"] for o in gateway.get(WEB, headers=as_anna).json()["items"]] == [order_id]
    assert gateway.get(f"{WEB}/{order_id}", headers=as_anna).status_code == 200


def test_another_partners_order_is_404(
    gateway: httpx.Client, estate: TestEstate, partner_key: Callable[..., str]
) -> None:
    (sku,) = estate.fresh_skus(1)
    estate.set_dc_stock(sku, 5)
    acme, other = {"X-API-Key": partner_key(new_id("p"))}, {"X-API-Key": partner_key(new_id("p"))}
    key = uuid.uuid4().hex
    placed = gateway.post(PARTNER, json=order_body(sku, customer="their-c-1"), headers={**acme, "Idempotency-Key": key})
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    assert_problem(gateway.get(f"{PARTNER}/{order_id}", headers=other), 404, "not-found")
    assert_problem(
        gateway.post(f"{PARTNER}/{order_id}/cancel", json={"reason": "not ours"}, headers=other), 404, "not-found"
    )
    assert gateway.get(PARTNER, headers=other).json()["items"] == []
    again = gateway.post(PARTNER, json=order_body(sku, customer="their-c-1"), headers={**other, "Idempotency-Key": key})
    assert again.status_code == 201 and again.json()["id"] != order_id, again.text
    assert gateway.get(f"{PARTNER}/{order_id}", headers=acme).status_code == 200
