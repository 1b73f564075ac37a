"""The gateway's embedded authorization server, against the real gateway (2 workers) and the state Redis:
clients made by ``omnigate clients create`` get RFC 9068 tokens that verify with the JWKS served; the errors of
RFC 6749 §5.2; ``omnigate keys rotate`` while tokens are in use; every worker and first start on one key set."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import redis
from joserfc import jwt
from redis.asyncio import Redis

from gateway.settings import GatewaySettings
from gateway.tokens import SIGNER
from shared.identity import keys_key
from shared.signing import KeyRing

pytestmark = pytest.mark.estate

FORM = {"grant_type": "client_credentials"}


def published_for_the_layers_below(settings: GatewaySettings) -> dict[str, object]:
    """The JWKS the gateway published as signer ``gateway`` in the state Redis (what the Verifier reads)."""
    with redis.Redis.from_url(settings.redis_url) as state:
        found = state.hget(keys_key(settings.key_prefix), SIGNER)
    assert found is not None, "the gateway published no keys"
    return dict(json.loads(found))


def get_token(gateway: httpx.Client, client_id: str, secret: str, **form: str) -> str:
    response = gateway.post("/oauth/token", data={**FORM, **form}, auth=(client_id, secret))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_a_client_made_by_the_cli_gets_a_token_that_verifies_with_the_served_jwks(
    gateway, new_client, served_jwks, gateway_settings, check_access
) -> None:
    client_id, secret = new_client("orders:read orders:write", partner="acme")
    response = gateway.post("/oauth/token", data={**FORM, "scope": "orders:read"}, auth=(client_id, secret))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert (body["token_type"], body["scope"], body["expires_in"]) == (
        "Bearer",
        "orders:read",
        gateway_settings.gateway_token_ttl_s,
    )
    decoded = jwt.decode(body["access_token"], served_jwks(), algorithms=["RS256"])
    assert decoded.header["typ"] == "at+jwt"
    claims = decoded.claims
    assert claims["iss"] == gateway_settings.gateway_issuer
    assert claims["aud"] == "omnigate"
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["scope"] == "orders:read"
    assert claims["partner_id"] == "acme"
    assert claims["iat"] <= time.time() < claims["exp"] == claims["iat"] + gateway_settings.gateway_token_ttl_s
    assert claims["jti"]
    assert claims["channel"] == "partner"
    caller = check_access(body["access_token"])
    assert (caller.channel, caller.partner_id, caller.client_id, caller.consumer) == (
        "partner",
        "acme",
        client_id,
        "partner:acme",
    )
    assert caller.scopes == {"orders:read"}


def test_client_secret_post_works_and_no_scope_means_all_the_clients_scopes(gateway, new_client, served_jwks) -> None:
    client_id, secret = new_client("catalog:read availability:read")
    response = gateway.post("/oauth/token", data={**FORM, "client_id": client_id, "client_secret": secret})
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "catalog:read availability:read"
    assert (
        jwt.decode(response.json()["access_token"], served_jwks()).claims["scope"] == "catalog:read availability:read"
    )


@pytest.mark.parametrize("how", ["basic", "post"])
def test_a_wrong_secret_is_401_invalid_client(gateway, new_client, how) -> None:
    client_id, _ = new_client("orders:read")
    if how == "basic":
        response = gateway.post("/oauth/token", data=FORM, auth=(client_id, "not-the-secret"))
    else:
        response = gateway.post("/oauth/token", data={**FORM, "client_id": client_id, "client_secret": "nope"})
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")  # RFC 6749 §5.2, not problem+json
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic ")


def test_an_unknown_client_is_401_invalid_client(gateway) -> None:
    response = gateway.post("/oauth/token", data=FORM, auth=("ogc_000000000000000000000000", "whatever"))
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_an_unknown_grant_is_400_unsupported_grant_type(gateway, new_client) -> None:
    client_id, secret = new_client("orders:read")
    response = gateway.post("/oauth/token", data={"grant_type": "password"}, auth=(client_id, secret))
    assert (response.status_code, response.json()["error"]) == (400, "unsupported_grant_type"), response.text


def test_a_scope_the_client_lacks_is_400_invalid_scope(gateway, new_client) -> None:
    client_id, secret = new_client("orders:read")
    for scope in ("orders:write", "orders:read returns:write", "admin"):
        response = gateway.post("/oauth/token", data={**FORM, "scope": scope}, auth=(client_id, secret))
        assert (response.status_code, response.json()["error"]) == (400, "invalid_scope"), (scope, response.text)


def test_a_token_request_that_is_not_a_form_is_400_invalid_request(gateway, new_client) -> None:
    client_id, secret = new_client("orders:read")
    response = gateway.post("/oauth/token", json=FORM, auth=(client_id, secret))
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


def test_a_client_without_partner_has_the_channel_it_was_made_with_and_no_plan(
    gateway, omnigate, omnigate_refused, check_access
) -> None:
    printed = omnigate("clients", "create", "--name", "mobile app", "--scopes", "catalog:read", "--channel", "mobile")
    fields = dict(line.split(":", 1) for line in printed.splitlines() if ":" in line)
    client_id, secret = fields["client_id"].strip(), fields["client_secret"].strip()
    caller = check_access(get_token(gateway, client_id, secret))
    assert (caller.channel, caller.plan, caller.partner_id, caller.consumer) == (
        "mobile",
        None,
        None,
        f"client:{client_id}",
    )
    # a plan is a partner's (limits.toml): a client acting for nobody is limited per client
    refused = omnigate_refused(
        "clients", "create", "--name", "x", "--scopes", "catalog:read", "--channel", "mobile", "--plan", "standard"
    )
    assert "partner" in refused


def test_omnigate_token_prints_a_shoppers_token_that_the_gateway_accepts(omnigate, check_access) -> None:
    token = omnigate("token", "--sub", "c-1001", "--channel", "mobile").strip()
    caller = check_access(token)
    assert (caller.sub, caller.customer_id, caller.channel, caller.client_id) == (
        "c-1001",
        "c-1001",
        "mobile",
        "omnigate-cli",
    )
    assert caller.scopes == {"catalog:read", "availability:read", "orders:read", "orders:write", "returns:write"}
    assert caller.consumer == "customer:c-1001"
    narrow = check_access(omnigate("token", "--sub", "c-7", "--channel", "web", "--scopes", "orders:read").strip())
    assert (narrow.channel, narrow.scopes) == ("web", {"orders:read"})


def test_metadata_names_the_issuer_endpoint_and_keys(gateway, gateway_settings) -> None:
    meta = gateway.get("/.well-known/oauth-authorization-server").json()
    issuer = gateway_settings.gateway_issuer
    assert meta["issuer"] == issuer
    assert meta["token_endpoint"] == issuer + "/oauth/token"
    assert meta["jwks_uri"] == issuer + "/.well-known/jwks.json"
    assert meta["grant_types_supported"] == ["client_credentials"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}
    assert "orders:write" in meta["scopes_supported"]


def test_after_keys_rotate_old_tokens_still_verify_and_new_ones_carry_the_new_kid(
    gateway, new_client, served_jwks, omnigate, gateway_settings, check_access
) -> None:
    client_id, secret = new_client("orders:read")
    before = get_token(gateway, client_id, secret)
    old_kid = jwt.decode(before, served_jwks()).header["kid"]

    printed = omnigate("keys", "rotate")
    new_kid = printed.split("current kid:")[1].split()[0]
    assert new_kid != old_kid

    jwks = served_jwks()
    assert [k.kid for k in jwks.keys][:2] == [new_kid, old_kid]  # current first, previous still published
    published = published_for_the_layers_below(gateway_settings)  # `keys rotate` publishes at once
    assert [k["kid"] for k in published["keys"]][:2] == [new_kid, old_kid]
    assert published == gateway.get("/.well-known/jwks.json").json()
    assert check_access(before).client_id == client_id
    # Every worker signs with the new key at once (no restart): fresh connections spread over both.
    for _ in range(8):
        with httpx.Client(base_url=str(gateway.base_url), timeout=15) as fresh:
            after = get_token(fresh, client_id, secret)
        assert jwt.decode(after, jwks).header["kid"] == new_kid
        assert check_access(after).client_id == client_id


def test_the_gateway_publishes_for_the_layers_below_the_jwks_it_serves(gateway, gateway_settings) -> None:
    served = gateway.get("/.well-known/jwks.json").json()
    assert published_for_the_layers_below(gateway_settings) == served
    assert all("d" not in key and key["alg"] == "RS256" and key["use"] == "sig" for key in served["keys"])


def test_every_worker_serves_the_same_key_set(estate) -> None:
    bodies: dict[str, bytes] = {}

    def both_workers_answered() -> bool:
        response = httpx.get(estate.url("gateway") + "/.well-known/jwks.json", timeout=10)
        assert response.status_code == 200
        bodies[response.headers["x-served-by"]] = response.content
        return len(bodies) == estate.workers("gateway")

    estate.wait_for(both_workers_answered, timeout=20, what="both gateway workers serve the JWKS")
    assert len(set(bodies.values())) == 1, bodies


async def test_concurrent_first_starts_make_exactly_one_key_set(aredis: Redis, key_prefix: str) -> None:
    """Eight workers starting at once on an empty Redis each generate a candidate; one is kept, all use it."""
    rings = [KeyRing(aredis, key_prefix, SIGNER, keep_s=60, alg="RS256") for _ in range(8)]
    found = await asyncio.gather(*(ring.ensure() for ring in rings))
    assert len({keys.current.kid for keys in found}) == 1
    again = await KeyRing(aredis, key_prefix, SIGNER, keep_s=60, alg="RS256").ensure()
    assert again.current.kid == found[0].current.kid
