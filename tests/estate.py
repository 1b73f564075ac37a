"""The estate as the integration tests see it: real processes, real Redis, a private key prefix."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import http_sfv
import httpx
import msgspec
import redis
from redis.asyncio import Redis as AsyncRedis

from estate.launcher import Estate, _Process, free_port
from gateway.cli import identity_of
from gateway.purge import GROUP as PURGE_GROUP
from gateway.settings import GatewaySettings
from gateway.tokens import SIGNER, keyring
from services.process.availability.keys import Keys as AvailabilityKeys
from services.process.orders.keys import Keys as OrderKeys
from services.process.orders.tracking import GROUP as ORDERS_FACTS_GROUP
from services.sandbox.common.catalogue import generate
from services.sandbox.common.settings import SandboxSettings
from services.sandbox.pos.settings import SandboxPosSettings
from services.sandbox.wms.sim import sign as shipbob_sign
from services.system.wms.settings import WmsSettings
from services.system.wms.webhooks import signing_secret
from shared.events import EventBus
from shared.idempotency import Idempotency
from shared.identity import HEADER, Identity, Minter, publish_keys
from shared.locks import Locks
from shared.outbox import Outbox
from shared.settings import S, Settings, from_env
from shared.signing import ServiceSigner

T = TypeVar("T")

# Small seed and short timeouts so breakers and retries can be seen within a test's deadline.
TEST_SETTINGS = {
    "OMNIGATE_SEED_SKUS": "300",
    "OMNIGATE_SEED_STORES": "6",
    "OMNIGATE_SEED_DCS": "2",
    "OMNIGATE_HTTP_TIMEOUT_S": "1.5",
    "OMNIGATE_HTTP_CONNECT_TIMEOUT_S": "0.5",
    "OMNIGATE_BREAKER_FAIL_MAX": "3",
    "OMNIGATE_BREAKER_RESET_S": "2",
    "OMNIGATE_RETRY_BACKOFF_S": "0.01",
    "OMNIGATE_LOG_LEVEL": "INFO",
    "OMNIGATE_ERP_PRICE_POLL_S": "0.5",
    "OMNIGATE_ORDERS_LOCK_TTL_S": "3",
    "OMNIGATE_ORDERS_RETRY_BASE_S": "0.3",
    "OMNIGATE_ORDERS_RETRY_MAX_S": "2",
    "OMNIGATE_ORDERS_RETRY_POLL_S": "0.2",
    "OMNIGATE_ORDERS_INFLIGHT_S": "10",
    # Sandboxes drop requests they could not start within this; callers wait this out after a lost answer.
    "OMNIGATE_UPSTREAM_COMMIT_LIMIT_S": "5",
    # system-wms polls ShipBob's inventory history this often (a cycle count reaches the projection within ~1 s).
    "OMNIGATE_WMS_INVENTORY_POLL_S": "0.3",
    # Facts re-claimed after 1 s (five redeliveries fit in a test), partial returns close after 10 s.
    "OMNIGATE_ORDERS_CLAIM_IDLE_S": "1",
    "OMNIGATE_ORDERS_RETURN_CLOSE_DAYS": str(10 / 86_400),
    "OMNIGATE_GATEWAY_CORS_ORIGINS": "https://shop.example.test",
    # The tests stand in for the load balancer in front of the gateway: the client IP that per-IP limits count
    # is the last X-Forwarded-For entry, so a test of limits has an address of its own.
    "OMNIGATE_GATEWAY_TRUSTED_PROXIES": "1",
}
# Each system API runs two workers, as in production (one per core): concurrency tests show both served
# (``X-Served-By``), and breakers are per worker. The SQLite sandboxes run one.
TEST_WORKERS = {
    "system-erp": 2,
    "system-wms": 2,
    "system-pos": 2,
    "process-availability": 2,
    "process-orders": 2,
    "experience-web": 2,
    "experience-mobile": 2,
    "experience-partner": 2,
    "gateway": 2,
}
# Catalogue positions below this are the read-only favourites of the system-API tests.
FIRST_FRESH_SKU = 40
SANDBOXES = ("sandbox-erp", "sandbox-wms", "sandbox-pos")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")


class ControlledEstate(Estate):
    """The launcher's estate plus what only tests do to it: crash a deployable, restart it, add a replica."""

    def kill_and_start_with_replica(self, name: str, *, timeout: float = 30.0) -> tuple[str, int]:
        """Crash a deployable (SIGKILL), then start it again together with a second instance on another port,
        as two replicas coming up at once would. Returns the replica's URL and pid; it stops with the estate."""
        process = self._processes[name]
        self._terminate(process, 0.0, hard=True)
        replica = _Process(
            process.deployable, free_port(), process.workers, self.data_dir / "logs" / f"{name}-replica.log"
        )
        replica_name = f"{name}#replica"
        self._processes[replica_name] = replica
        self._spawn(process)
        self._spawn(replica)
        self._wait_ready(timeout, None, names=[name, replica_name])
        assert replica.popen is not None
        return self.url(replica_name), replica.popen.pid

    def start_instance(
        self, name: str, label: str, *, env: dict[str, str] | None = None, workers: int = 2, timeout: float = 30.0
    ) -> str:
        """Start another instance of a deployable (``<name>#<label>``) on a free port beside the running one,
        with its own settings overrides (``env``), as a second replica or a differently configured one would
        run. Returns its URL; it stops with the estate or with :meth:`stop_instance`."""
        process = self._processes[name]
        instance = _Process(
            process.deployable,
            free_port(),
            workers,
            self.data_dir / "logs" / f"{name}-{label}.log",
            env=dict(env or {}),
        )
        instance_name = f"{name}#{label}"
        self._processes[instance_name] = instance
        self._spawn(instance)
        self._wait_ready(timeout, None, names=[instance_name])
        return self.url(instance_name)

    def stop_instance(self, name: str, label: str) -> None:
        self._terminate(self._processes.pop(f"{name}#{label}"), 10.0)

    def pause(self, name: str) -> None:
        """Stop a deployable or instance (a graceful stop, as an outage begins) and keep its port for resume."""
        self._terminate(self._processes[name], 10.0)

    def resume(self, name: str, *, timeout: float = 30.0) -> None:
        self._spawn(self._processes[name])
        self._wait_ready(timeout, None, names=[name])

    def restart(self, name: str, *, kill: bool = False, timeout: float = 30.0) -> None:
        """Stop one deployable (``kill`` = SIGKILL, as a crash) and start it again on the same port."""
        process = self._processes[name]
        self._terminate(process, 0.0 if kill else 10.0, hard=kill)
        self._spawn(process)
        self._wait_ready(timeout, None, names=[name])


def mint_callers(redis_url: str, prefix: str, identities: list[Identity]) -> list[str]:
    """Identity tokens for callers, as the gateway mints them: its ring (signer ``gateway``, made at first use
    like the gateway's first start) in the estate's Redis, its public keys published for the layers below."""

    async def mint() -> list[str]:
        client = AsyncRedis.from_url(redis_url)
        try:
            settings = from_env(GatewaySettings, {"REDIS_URL": redis_url, "OMNIGATE_KEY_PREFIX": prefix})
            keys = await keyring(client, settings).ensure()
            await publish_keys(client, prefix, SIGNER, keys.jwks())
            minter = Minter(keys.current, ttl_s=900)
            return [minter.mint(identity) for identity in identities]
        finally:
            await client.aclose()

    return asyncio.run(mint())


def owner_headers(redis_url: str, prefix: str, owners: list[str]) -> list[dict[str, str]]:
    """``X-Omnigate-Identity`` headers for callers named by their owners (``web:c-1``...), minted in one go."""
    identities = [identity_of(*owner.split(":", 1)) for owner in owners]
    return [{HEADER: token} for token in mint_callers(redis_url, prefix, identities)]


class TestEstate:
    """What tests get from the ``estate`` fixture."""

    __test__ = False

    def __init__(self, estate: ControlledEstate, prefix: str) -> None:
        self._estate = estate
        self.prefix = prefix
        self.settings: Settings = estate.settings  # the kernel's; settings_of() reads a deployable's own
        self._redis = redis.Redis.from_url(self.settings.redis_url)
        self._next_sku = FIRST_FRESH_SKU
        self._order_keys = OrderKeys(prefix)
        self._availability_keys = AvailabilityKeys(prefix)
        # Kernel keys are named by the kernel's own classes; this client only lends them its type (no I/O).
        self._naming = AsyncRedis.from_url(self.settings.redis_url)
        self._bus = EventBus(self._naming, prefix=prefix)
        self._locks = Locks(self._naming, prefix=prefix)
        self._tokens: dict[Identity, tuple[str, float]] = {}

    # --- identities ---------------------------------------------------------------------------------------------

    def identity(self, owner: str) -> dict[str, str]:
        """The ``X-Omnigate-Identity`` header of the caller an owner names (``web:c-1``, ``partner:p-9``,
        ``ops:test``), minted as the gateway mints it; reused for ten minutes (tokens live fifteen)."""
        channel, _, subject = owner.partition(":")
        return {HEADER: self.identity_token(identity_of(channel, subject))}

    def identity_token(self, identity: Identity) -> str:
        """A token for any caller identity, signed with the gateway's ring in this estate's Redis."""
        found = self._tokens.get(identity)
        if found is None or time.monotonic() - found[1] > 600:
            (token,) = mint_callers(self.settings.redis_url, self.prefix, [identity])
            found = self._tokens[identity] = (token, time.monotonic())
        return found[0]

    def service_token(self, service: str) -> str:
        """A service identity of ``service``, signed with its own ring (published under its name), as the
        deployable itself would carry it."""

        async def mint() -> str:
            client = AsyncRedis.from_url(self.settings.redis_url)
            try:
                return (await ServiceSigner.start(client, self.prefix, service)).token()
            finally:
                await client.aclose()

        return asyncio.run(mint())

    def served(self, url: str, route_prefix: str = "/", status: str = "") -> float:
        """Requests the deployable (or instance) at ``url`` has served on routes starting with ``route_prefix``
        (with a status starting with ``status``: ``"2"`` for the successful ones), every worker counted (the
        kernel's ``omnigate_http_requests_total`` in its /metrics; scrapes and probes left out), once settled."""
        return self.settled(lambda: _served(url, route_prefix, status), what=f"the request count of {url}")

    def served_by(self, names: tuple[str, ...]) -> dict[str, float]:
        """:meth:`served` of each named deployable, read together (one settled snapshot of them all)."""
        urls = [self.url(name) for name in names]
        with ThreadPoolExecutor(len(urls)) as pool:
            return self.settled(
                lambda: dict(zip(names, pool.map(_served, urls), strict=True)), what="the request counts settle"
            )

    def settled(self, read: Callable[[], T], *, what: str, pause_s: float = 0.05) -> T:
        """``read()`` until two reads a moment apart agree (a worker counts a request once its answer is sent,
        so a count read right after an answer may still move)."""
        reads = [read()]

        def agrees() -> bool:
            time.sleep(pause_s)
            reads.append(read())
            return reads[-1] == reads[-2]

        self.wait_for(agrees, timeout=10, interval=0, what=what)
        return reads[-1]

    def settings_of(self, kind: type[S]) -> S:
        """What a deployable reading ``kind`` (e.g. ``PosSettings``) was started with."""
        return self._estate.settings_of(kind)

    def url(self, name: str) -> str:
        return self._estate.url(name)

    def db_path(self, name: str) -> Path:
        return self._estate.db_path(name)

    def log_path(self, name: str) -> Path:
        return self._estate.log_path(name)

    def fresh_skus(self, n: int = 1) -> list[str]:
        """SKUs no other test of this session has been given: tests that move stock must never share one.
        One allocator for the session, so no two modules (or conftest helpers) can hand out the same SKU."""
        s = self.settings_of(SandboxSettings)
        products = generate(s.seed, s.seed_skus, s.seed_stores, s.seed_dcs).products
        out = [p.sku for p in products[self._next_sku : self._next_sku + n]]
        if len(out) < n:
            raise RuntimeError("the test seed has no fresh SKUs left: raise OMNIGATE_SEED_SKUS in TEST_SETTINGS")
        self._next_sku += n
        return out

    def workers(self, name: str) -> int:
        return TEST_WORKERS.get(name.split("#")[0], 1)

    def restart(self, name: str, *, kill: bool = False) -> None:
        self._estate.restart(name, kill=kill)

    def start_instance(self, name: str, label: str, *, env: dict[str, str] | None = None, workers: int = 2) -> str:
        return self._estate.start_instance(name, label, env=env, workers=workers)

    def stop_instance(self, name: str, label: str) -> None:
        self._estate.stop_instance(name, label)

    def pause(self, name: str) -> None:
        """Take a deployable (or an instance, ``<name>#<label>``) down until :meth:`resume`."""
        self._estate.pause(name)

    def resume(self, name: str) -> None:
        self._estate.resume(name)

    def kill_and_start_with_replica(self, name: str) -> tuple[str, int]:
        return self._estate.kill_and_start_with_replica(name)

    @property
    def names(self) -> list[str]:
        return self._estate.names

    def redis_calls(self, *commands: str) -> dict[str, int]:
        """How many times the state Redis has run each of ``commands`` (lower case: ``hgetall``, ``evalsha``)
        since it started, from ``INFO commandstats``: a test counts the round trips a request costs."""
        stats = self._redis.info("commandstats")
        return {c: int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in commands}

    # --- the event streams ----------------------------------------------------------------------------------------

    def stream(self, domain: str) -> str:
        return self._bus.stream(domain)

    def events(self, domain: str) -> list[dict[str, Any]]:
        """Every event on a domain's stream, oldest first, as its decoded envelope (id, type, key, payload, ...)."""
        return [json.loads(fields[b"data"]) for _, fields in self._redis.xrange(self.stream(domain))]

    def purges_settled(self) -> bool:
        """Whether every availability change so far has reached the gateway's cache purges: process-availability's
        outbox is empty and the gateway's purge group has taken and acknowledged everything on the stream."""
        if self._redis.xlen(Outbox(self._naming, self._bus, name="availability", prefix=self.prefix).key):
            return False
        stream = self.stream("availability")
        if not self._redis.exists(stream):
            return True
        for group in self._redis.xinfo_groups(stream):
            if group["name"] == PURGE_GROUP.encode():
                return group["pending"] == 0 and group["lag"] == 0
        return False

    def dead_letters(self) -> list[dict[str, str]]:
        """The dead-letter stream's entries (stream, id, type, data, ...), oldest first."""
        return [
            {k.decode(): v.decode() for k, v in fields.items()}
            for _, fields in self._redis.xrange(self._bus.dead_stream)
        ]

    # --- the sandboxes: staged faults and their own databases ---------------------------------------------------

    def fault(self, sandbox: str, **spec: Any) -> None:
        """Stage a fault on a sandbox (``PUT /_faults``): a route's latency, errors, resets or outage."""
        assert httpx.put(self.url(sandbox) + "/_faults", json=spec, timeout=10).status_code == 200, spec

    def clear_faults(self) -> None:
        for name in SANDBOXES:
            assert httpx.delete(self.url(name) + "/_faults", timeout=10).status_code == 204

    def sql(self, name: str, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows from a sandbox's own SQLite file (read-only): the back-end's truth, counted behind the APIs."""
        conn = sqlite3.connect(f"file:{self.db_path(name)}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(query, args).fetchall()
        finally:
            conn.close()

    def count_at_till(self, sku: str, store: str, qty: int) -> None:
        """A physical count of ``sku`` at ``store`` (``store-<id>``) through Square's own API, as a stock take at
        the till would send it: ``qty`` units IN_STOCK from now on."""
        (variation,) = self.sql("sandbox-pos", "SELECT id FROM variations WHERE sku = ?", (sku,))[0]
        count = {
            "catalog_object_id": variation,
            "location_id": store[len("store-") :].upper(),
            "quantity": str(qty),
            "state": "IN_STOCK",
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        }
        answer = httpx.post(
            self.url("sandbox-pos") + "/v2/inventory/changes/batch-create",
            json={
                "idempotency_key": uuid.uuid4().hex,
                "changes": [{"type": "PHYSICAL_COUNT", "physical_count": count}],
            },
            headers={"Authorization": f"Bearer {self.settings_of(SandboxPosSettings).pos_access_token}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text

    def ship(self, order_id: str, carrier: str | None = None) -> dict[str, Any]:
        """The WMS dispatches the fulfilment order ``order_id`` (an order's id, or ``<id>-<n>`` for a part of a
        split order) with ``carrier`` (else one the sandbox picks) (``/_sim/ship``: the webhook a 3PL sends);
        returns the sandbox's answer: ``shipment`` (its id, carrier, tracking number...) and ``webhooks``."""
        body = {"order_reference": order_id, **({"carrier": carrier} if carrier else {})}
        answer = httpx.post(self.url("sandbox-wms") + "/_sim/ship", json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def resend_wms_webhook(self, webhook_id: str) -> str:
        """ShipBob sends what delivery ``webhook_id`` said once more under a new delivery id (at-least-once
        delivery may): the same body and topic, signed as ShipBob signs (Standard Webhooks), to the same URL;
        returns the new id once the receiver accepted it (the bus de-duplicates by delivery id, so this one is
        published)."""
        ((url, raw, stored),) = self.sql(
            "sandbox-wms", "SELECT url, body, headers FROM _webhooks WHERE id = ?", (webhook_id,)
        )
        new_id = f"msg_{uuid.uuid4().hex[:24]}"
        body = bytes(raw)
        secret = signing_secret(self.settings_of(WmsSettings).wms_webhook_secret)
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": new_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": shipbob_sign(secret, new_id, stamp, body),
            "x-webhook-topic": json.loads(stored)["x-webhook-topic"],
        }
        answer = httpx.post(url, content=body, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return new_id

    def facts_settled(self, order_id: str) -> bool:
        """Whether process-orders has taken every fulfilment fact on the stream (its consumer group has none
        pending and none unread) and applied, or set aside as already applied, every one parked against the order."""
        if self._redis.hlen(self._order_keys.facts(order_id)):
            return False
        for group in self._redis.xinfo_groups(self.stream("fulfilment")):
            if group["name"] == ORDERS_FACTS_GROUP.encode():
                return bool(group["pending"] == 0 and group["lag"] == 0)
        return False

    def deliver(self, order_id: str) -> None:
        """The carrier delivers the shipped order (``/_sim/deliver``)."""
        answer = httpx.post(self.url("sandbox-wms") + "/_sim/deliver", json={"order_reference": order_id}, timeout=10)
        assert answer.status_code == 200, answer.text

    def receive_return(self, return_id: str) -> None:
        """The DC receives everything the return announced (``/_sim/receive``: a receipt by the return's id)."""
        answer = httpx.post(self.url("sandbox-wms") + "/_sim/receive", json={"reference": return_id}, timeout=10)
        assert answer.status_code == 200, answer.text

    # --- stock, as the availability projection shows it --------------------------------------------------------

    def atp(self, sku: str) -> dict[str, int]:
        """process-availability's ATP of ``sku`` per location."""
        answer = httpx.post(
            self.url("process-availability") + "/availability/query",
            json={"skus": [sku]},
            headers=self.identity("ops:test"),  # an operator may read ATP
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return {a["location"]: a["available"] for a in answer.json()["items"][0]["locations"]}

    def set_dc_stock(self, sku: str, tlb: int, zwl: int = 0) -> None:
        """Count the SKU at both DCs (a WMS cycle count) and wait until the projection shows exactly that ATP."""
        for warehouse, qty in (("TLB", tlb), ("ZWL", zwl)):
            response = httpx.post(
                self.url("sandbox-wms") + "/_sim/count",
                json={"warehouse": warehouse, "sku": sku, "on_hand": qty},
                timeout=10,
            )
            assert response.status_code == 200, response.text
        self.wait_for(
            lambda: (lambda a: a.get("dc-tlb") == tlb and a.get("dc-zwl") == zwl)(self.atp(sku)),
            timeout=10,
            what=f"ATP of {sku} = {tlb}/{zwl}",
        )

    def set_store_stock(self, sku: str, qty: int) -> str:
        """Count ``qty`` of ``sku`` at the till of one store; wait until the projection shows it; the store."""
        store = min(loc for loc in self.atp(sku) if loc.startswith("store-"))
        self.count_at_till(sku, store, qty)
        self.wait_for(lambda: self.atp(sku).get(store) == qty, timeout=10, what=f"ATP of {sku} at {store} = {qty}")
        return store

    # --- process-orders' state that its API does not show (the saga's step, records of any owner) -------------

    def order_records(self, order_ids: list[str]) -> list[dict[str, Any] | None]:
        """The saga's records of these orders (None for one not written yet), whoever owns them."""
        raws = self._redis.mget([self._order_keys.order(i) for i in order_ids]) if order_ids else []
        return [json.loads(raw) if raw is not None else None for raw in raws]

    def order_record(self, order_id: str) -> dict[str, Any]:
        (found,) = self.order_records([order_id])
        assert found is not None, f"no record of order {order_id}"
        return found

    def idempotent_request_id(self, service: str, owner: str, key: str) -> str | None:
        """The id a service's idempotency record names for (owner, key): set before the request's work is done."""
        idempotency = Idempotency(self._naming, prefix=self.prefix, service=service, ttl_s=1, inflight_s=1)
        found = self._redis.hget(idempotency.record_key(owner, key), "id")
        return found.decode() if isinstance(found, bytes) else None

    def order_locked(self, order_id: str) -> bool:
        """Whether the per-order lock (``Store.lock``: the kernel lock ``order:<id>``) is held."""
        return bool(self._redis.exists(self._locks.key(f"order:{order_id}")))

    def saga_claims(self) -> dict[str, int]:
        """How often each due saga (``o:<order id>``, ``r:<order id>:<return id>``) was claimed by a retry worker."""
        return {k.decode(): int(v) for k, v in self._redis.hgetall(self._order_keys.claims).items()}

    def saga_pollers(self) -> list[str]:
        """The retry workers that have polled for due sagas, by worker id (``<host>/<pid>``)."""
        return [name.decode() for name in self._redis.hgetall(self._order_keys.workers)]

    def forget_saga_pollers(self) -> None:
        self._redis.delete(self._order_keys.workers)

    # --- process-availability's state that its API does not show -------------------------------------------------

    def reservation_expiry_indexed(self, order_id: str) -> bool:
        """Whether a reservation set sits in the expiry index (only held sets may: allocated stock never expires)."""
        return self._redis.zscore(self._availability_keys.res_expiry, order_id) is not None

    def corrupt_projected_on_hand(self, sku: str, location: str, on_hand: int) -> None:
        """Overwrite the projection's on-hand figure behind the service's back (what a reconciliation repairs)."""
        self._redis.hset(self._availability_keys.sku(sku), f"{location}|oh", on_hand)

    # --- system-erp ----------------------------------------------------------------------------------------------

    def price_feed_has_cursor(self) -> bool:
        # system-erp has no keys.py: the key is PriceFeed.cursor_key (services/system/erp/price_feed.py).
        return bool(self._redis.exists(f"{self.prefix}omnigate.erp:price-feed-cursor"))

    @staticmethod
    def wait_for(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.05, what: str = "") -> T:
        """Poll until ``predicate`` returns something truthy; fail with ``what`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
            time.sleep(interval)

    def wait_until_every_worker_answers(self, name: str, path: str) -> None:
        """A breaker an earlier step opened may still be open in any worker: wait (generously) until GETs on
        fresh connections, which spread over the workers, succeed from every one of them."""
        url = self.url(name) + path
        answered: set[str] = set()

        def every_worker_answers() -> bool:
            response = httpx.get(url, timeout=10)
            if response.status_code == 200:
                answered.add(response.headers["x-served-by"])
            return len(answered) == self.workers(name)

        self.wait_for(
            every_worker_answers,
            timeout=self.settings.breaker_reset_s * 5 + 10,
            interval=0.05,
            what=f"every {name} worker answers {path}",
        )

    def tracebacks(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for name in self._estate.names:
            text = self.log_path(name).read_text(errors="replace")
            match = TRACEBACK.search(text)
            if match:
                found[name] = text[max(0, match.start() - 400) : match.start() + 3000]
        return found

    def clean_redis(self) -> None:
        for key in self._redis.scan_iter(match=f"{self.prefix}*", count=1000):
            self._redis.delete(key)
        self._redis.close()


ADDRESS = {
    "name": "Anna de Vries",
    "line1": "Keizersgracht 1",
    "city": "Amsterdam",
    "postal_code": "1015 CJ",
    "country": "NL",
}


def order_body(
    sku: str, qty: int = 1, *, mode: str = "ship", store: str | None = None, customer: str = "c-1", **extra: Any
) -> dict[str, Any]:
    """process-orders' canonical ``OrderRequest`` for one line (every channel submits this shape)."""
    fulfilment: dict[str, Any] = {"mode": mode}
    if mode == "ship":
        fulfilment["ship_to"] = ADDRESS
    else:
        fulfilment["store"] = store
    body = {
        "customer": {"id": customer, "name": "Anna de Vries"},
        "fulfilment": fulfilment,
        "lines": [{"line_id": "1", "sku": sku, "qty": qty}],
        "currency": "EUR",
        "payment_reference": "psp_1",
    }
    body.update(extra)
    return body


ORDER_SCOPES = frozenset({"orders:read", "orders:write"})
_SERVED = re.compile(r"^omnigate_http_requests_total\{(.*)\} (\S+)$", re.MULTILINE)  # a route's own braces: greedy
_NOT_CALLERS = ('route="/metrics"', 'route="/healthz"', 'route="/readyz"')  # scrapes and probes, not callers


def _served(url: str, route_prefix: str = "/", status: str = "") -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    return sum(
        float(value)
        for labels, value in _SERVED.findall(text)
        if f'route="{route_prefix}' in labels
        and f'status="{status}' in labels
        and not any(probe in labels for probe in _NOT_CALLERS)
    )


class ExperienceApi:
    """One experience API (``experience-web``...) as its callers use it: each request with a caller's identity
    token (minted as the gateway mints it), under the channel's ``/<channel>/v1`` paths."""

    def __init__(self, estate: TestEstate, channel: str) -> None:
        self.estate = estate
        self.channel = channel
        self.name = f"experience-{channel}"

    @property
    def url(self) -> str:
        return self.estate.url(self.name) + f"/{self.channel}/v1"

    def caller(self, subject: str, scopes: frozenset[str] = ORDER_SCOPES, channel: str | None = None) -> dict[str, str]:
        """The identity header of a customer (web, mobile) or a partner named ``subject``."""
        channel = channel or self.channel
        who = {"partner_id": subject} if channel == "partner" else {"customer_id": subject}
        identity = msgspec.convert({"sub": subject, "channel": channel, "scopes": sorted(scopes), **who}, Identity)
        return {HEADER: self.estate.identity_token(identity)}

    def place(self, body: dict[str, Any], caller: dict[str, str], key: str | None = None) -> httpx.Response:
        headers = {**caller, "Idempotency-Key": key or uuid.uuid4().hex}
        return httpx.post(self.url + "/orders", json=body, headers=headers, timeout=30)

    def get(self, path: str, caller: dict[str, str], **params: str) -> httpx.Response:
        return httpx.get(self.url + path, params=params, headers=caller, timeout=10)

    def open_return(
        self, order_id: str, body: dict[str, Any], caller: dict[str, str], key: str | None = None
    ) -> httpx.Response:
        headers = {**caller, "Idempotency-Key": key or uuid.uuid4().hex}
        return httpx.post(self.url + f"/orders/{order_id}/returns", json=body, headers=headers, timeout=30)

    def wait_order(self, order_id: str, caller: dict[str, str], field: str, value: str, timeout: float = 15) -> None:
        """Poll the caller's order until its ``field`` (``state`` on web, ``status`` on partner) is ``value``."""
        self.estate.wait_for(
            lambda: self.get(f"/orders/{order_id}", caller).json()[field] == value,
            timeout=timeout,
            what=f"order {order_id} {value}",
        )

    def cancel(self, order_id: str, caller: dict[str, str]) -> httpx.Response:
        return httpx.post(self.url + f"/orders/{order_id}/cancel", json={"reason": "test"}, headers=caller, timeout=30)

    def orders_served(self) -> float:
        """Requests process-orders has served on its order routes, every worker counted."""
        return self.estate.served(self.estate.url("process-orders"), "/orders")


class Shelves:
    """The estate's stores (system-pos's canonical locations) and a SKU's stock put on them."""

    def __init__(self, estate: TestEstate) -> None:
        self.estate = estate
        answer = httpx.get(estate.url("system-pos") + "/stores", timeout=10)
        assert answer.status_code == 200, answer.text
        self.stores: dict[str, dict[str, Any]] = {s["id"]: s for s in answer.json()}

    def store(self, city: str) -> str:
        """The id of the store in ``city``."""
        (found,) = [store_id for store_id, s in self.stores.items() if s["city"] == city]
        return found

    def stock(self, sku: str, *, tlb: int, zwl: int = 0, stores: dict[str, int] | None = None) -> None:
        """Count ``sku`` at both DCs and at every store (``stores`` by id; every other store 0), then wait until
        the projection shows exactly those figures."""
        self.estate.set_dc_stock(sku, tlb=tlb, zwl=zwl)
        wanted = {store_id: (stores or {}).get(store_id, 0) for store_id in self.stores}
        for store_id, qty in wanted.items():
            self.estate.count_at_till(sku, store_id, qty)
        self.estate.wait_for(
            lambda: all(self.estate.atp(sku).get(s) == q for s, q in wanted.items()),
            timeout=15,
            what=f"store stock of {sku} = {wanted}",
        )


def start_test_estate(data_dir: Path, redis_url: str) -> tuple[ControlledEstate, str]:
    prefix = f"t{os.getpid()}-{int(time.time())}:"
    env = dict(TEST_SETTINGS, OMNIGATE_KEY_PREFIX=prefix)
    # For development only: OMNIGATE_ESTATE_ONLY=a,b starts a subset (CI always starts everything).
    only = [n for n in os.environ.get("OMNIGATE_ESTATE_ONLY", "").split(",") if n] or None
    estate = ControlledEstate(
        data_dir=data_dir, free_ports=True, env=env, redis_url=redis_url, workers=TEST_WORKERS, only=only
    )
    estate.start(timeout=90)
    return estate, prefix


PROBLEM_MEDIA_TYPE = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, slug: str | None = None) -> dict[str, object]:
    """The response is an RFC 9457 problem of this status (and type slug); returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE), response.headers
    problem = response.json()
    assert problem["status"] == status and problem["type"].startswith("https://omnigate.dev/problems/"), problem
    if slug:
        assert problem["type"].endswith("/" + slug), problem
    return problem  # type: ignore[no-any-return]


def cache_status(answer: httpx.Response) -> dict[str, object]:
    """The parameters of the gateway cache's member of ``Cache-Status`` (RFC 9211), e.g. ``{"hit": True, "ttl": 12}``."""
    parsed = http_sfv.List()
    parsed.parse(answer.headers["cache-status"].encode())
    (member,) = [m for m in parsed if str(m.value) == "omnigate"]
    return dict(member.params)
