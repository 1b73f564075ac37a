"""The security corpus at the process layer (issue 8, "Identity all the way down"): process-orders derives the
owner only from a verified internal identity token. Everything else is a 401 (no token, a bare owner header, a
caller's OAuth access token, a token under a key nobody published) or a 403 (a service identity asking for an
owner's order, a shopper at an operator route), and none of those refused requests reaches a back-end."""

from __future__ import annotations

import asyncio
import time

import httpx
from redis.asyncio import Redis as AsyncRedis

from gateway.settings import GatewaySettings
from gateway.tokens import keyring
from gateway.tokens import mint as mint_access_token
from shared.identity import HEADER, Identity, Minter, generate_key
from shared.settings import from_env
from tests.estate import TestEstate, assert_problem
from tests.integration.process_orders.conftest import OWNER, Orders


def access_token(estate: TestEstate) -> str:
    """A gateway OAuth access token (RFC 9068, audience ``omnigate``), signed with the very ring that signs
    identity tokens: only the token's kind differs."""

    async def mint() -> str:
        client = AsyncRedis.from_url(estate.settings.redis_url)
        try:
            settings = from_env(
                GatewaySettings, {"REDIS_URL": estate.settings.redis_url, "OMNIGATE_KEY_PREFIX": estate.prefix}
            )
            keys = await keyring(client, settings).ensure()
            return mint_access_token(
                keys.current,
                issuer=settings.gateway_issuer,
                client_id="shop",
                scope="orders:read orders:write",
                ttl_s=300,
                now=int(time.time()),
                subject="c-1",
                channel="web",
                customer_id="c-1",
            )
        finally:
            await client.aclose()

    return asyncio.run(mint())


def backend_documents(estate: TestEstate) -> int:
    return int(estate.sql("sandbox-erp", "SELECT count(*) FROM sale_order")[0][0])


def test_only_a_verified_identity_reaches_the_orders(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=5)
    order = orders.place(orders.body(sku)).json()
    orders.wait_state(order["id"], "released")
    atp, documents = orders.atp(sku), backend_documents(estate)
    unknown_key = Minter(generate_key("ES256")).mint(Identity(sub="c-1", channel="web", customer_id="c-1"))
    refusals = {
        "no token": {},
        "bare owner header": {"X-Omnigate-Owner": OWNER},
        "caller's access token": {HEADER: access_token(estate)},
        "unpublished key": {HEADER: unknown_key},
        "bearer instead of identity": {"Authorization": f"Bearer {access_token(estate)}"},
    }
    for what, headers in refusals.items():
        placed = httpx.post(orders.url + "/orders", json=orders.body(sku), headers={**headers, "Idempotency-Key": what})
        problem = assert_problem(placed, 401, "unauthorized")
        assert placed.headers["www-authenticate"].startswith('Bearer realm="omnigate-internal"'), (what, problem)
        assert_problem(httpx.get(orders.url + f"/orders/{order['id']}", headers=headers), 401, "unauthorized")
        assert_problem(httpx.get(orders.url + "/orders", headers=headers), 401, "unauthorized")
    # A deployable's service identity acts for no owner: 403, never another owner's order.
    service = {HEADER: estate.service_token("experience-shop")}
    own_order = orders.url + f"/orders/{order['id']}"
    # A newly published key is read on an unknown kid at most once per cool-down (10 s; the unpublished key
    # above just used it): wait for it, as a deployable started a moment ago would be waited for.
    # Every worker reads it on its own, so wait until each one (``X-Served-By``) has.
    read_by: set[str] = set()

    def every_worker_read_the_key() -> bool:
        answer = httpx.get(own_order, headers=service)
        if answer.status_code != 401:
            read_by.add(answer.headers["x-served-by"])
        return len(read_by) == estate.workers("process-orders")

    estate.wait_for(every_worker_read_the_key, timeout=30, interval=0.05, what="every worker read the new key")
    assert_problem(httpx.get(orders.url + f"/orders/{order['id']}", headers=service), 403, "forbidden")
    assert_problem(
        httpx.post(orders.url + "/orders", json=orders.body(sku), headers={**service, "Idempotency-Key": "svc"}),
        403,
        "forbidden",
    )
    # A shopper at an operator route: 403 insufficient_scope.
    shopper_at_ops = httpx.post(orders.url + "/reconciliations/documents", json={}, headers=estate.identity(OWNER))
    assert_problem(shopper_at_ops, 403, "forbidden")
    assert 'error="insufficient_scope"' in shopper_at_ops.headers["www-authenticate"]
    # None of it reached a back-end: no stock held, no ERP document, and the owner's order is as it was.
    assert orders.atp(sku) == atp and backend_documents(estate) == documents
    assert orders.get(order["id"])["state"] == "released"


def test_the_probes_and_the_schema_stay_open(estate: TestEstate) -> None:
    for path in ("/healthz", "/readyz", "/schema/openapi.json"):
        assert httpx.get(estate.url("process-orders") + path, timeout=10).status_code == 200, path
