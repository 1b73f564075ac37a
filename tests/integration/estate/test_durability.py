"""Bursts of orders through a killed state Redis and a killed process-orders (issue 6, "Done means").

This module runs its own estate on a private ``redis-server`` with AOF and ``appendfsync always`` (the chart's
default), so the test can SIGKILL Redis mid-burst and start it again on the same data. Every client replays its
``Idempotency-Key`` until it gets an answer (503 and ``request-in-flight`` mean "try again"). Afterwards the
document sweep runs, and the accounting must hold: every order a client was told is accepted (201/202) ends
``released`` exactly once (one ERP sales order, one WMS fulfilment order); every order told rejected has no
live document anywhere; and per (SKU, location), ATP = on hand in the WMS's own database - what the accepted
orders allocated - safety stock.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from estate.launcher import Estate, free_port, redis_answers
from services.process.orders.keys import Keys as OrderKeys
from services.sandbox.common.catalogue import generate
from services.sandbox.common.settings import SandboxSettings
from tests.estate import TEST_SETTINGS, TEST_WORKERS, ControlledEstate, owner_headers

pytestmark = pytest.mark.estate

ADDRESS = {
    "name": "Anna de Vries",
    "line1": "Keizersgracht 1",
    "city": "Amsterdam",
    "postal_code": "1015 CJ",
    "country": "NL",
}
ONLY = [
    "sandbox-erp",
    "sandbox-wms",
    "sandbox-pos",
    "system-erp",
    "system-wms",
    "system-pos",
    "process-availability",
    "process-orders",
]
ORDERS = 120
ARRIVALS_S = 6.0
STOCK = 25  # per SKU at dc-tlb: four SKUs, so 100 units for 120 orders: some are refused
PREFIX = "durable:"
ORDER_KEYS = OrderKeys(PREFIX)  # process-orders' records in this module's Redis, read for the accounting


def operator(estate: Estate) -> dict[str, str]:
    """An operator's identity header (every process-availability route needs one; operators may read ATP)."""
    (headers,) = owner_headers(estate.settings.redis_url, PREFIX, ["ops:test"])
    return headers


class PrivateRedis:
    """A redis-server of this module's own, with AOF fsynced on every write, that can be killed and restarted."""

    def __init__(self, workdir: Path) -> None:
        server = shutil.which("redis-server")
        if server is None:
            pytest.skip("redis-server is not installed")
        self.server = server
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while not redis_answers(self.url):
            assert time.monotonic() < deadline, "the private redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def durable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlledEstate, PrivateRedis]]:
    store = PrivateRedis(tmp_path_factory.mktemp("durable-redis"))
    store.start()
    env = dict(TEST_SETTINGS, OMNIGATE_KEY_PREFIX=PREFIX)
    estate = ControlledEstate(
        data_dir=tmp_path_factory.mktemp("durable-estate"),
        free_ports=True,
        env=env,
        redis_url=store.url,
        workers=TEST_WORKERS,
        only=ONLY,
    )
    estate.start(timeout=90)
    try:
        yield estate, store
    finally:
        estate.stop()
        store.stop()
        found = {name: estate.log_path(name).read_text(errors="replace") for name in estate.names}
        tracebacks = {
            name: text[text.index("Traceback") :][:3000] for name, text in found.items() if "Traceback" in text
        }
        assert not tracebacks, f"tracebacks in process logs: {tracebacks}"


def sql(estate: Estate, name: str, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{estate.db_path(name)}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(query, args).fetchall()
    finally:
        conn.close()


def stock_up(estate: Estate, skus: list[str]) -> None:
    for sku in skus:
        for warehouse, qty in (("TLB", STOCK), ("ZWL", 0)):
            httpx.post(
                estate.url("sandbox-wms") + "/_sim/count",
                json={"warehouse": warehouse, "sku": sku, "on_hand": qty},
                timeout=10,
            ).raise_for_status()
    headers = operator(estate)

    def projected() -> bool:
        answer = httpx.post(
            estate.url("process-availability") + "/availability/query",
            json={"skus": skus},
            headers=headers,
            timeout=10,
        )
        if answer.status_code != 200:
            return False
        atp = {i["sku"]: {a["location"]: a["available"] for a in i["locations"]} for i in answer.json()["items"]}
        return all(atp.get(s, {}).get("dc-tlb") == STOCK and atp[s].get("dc-zwl") == 0 for s in skus)

    deadline = time.monotonic() + 30
    while not projected():
        assert time.monotonic() < deadline, "stock did not reach the projection"
        time.sleep(0.2)


async def client(
    url: str, body: dict[str, Any], identity: dict[str, str], outcome: dict[str, Any], delay_s: float
) -> None:
    """One shopper: arrives after ``delay_s``, posts the order and replays the same key until the answer is a
    decision."""
    await asyncio.sleep(delay_s)
    key = uuid.uuid4().hex
    headers = {**identity, "Idempotency-Key": key}
    outcome["retried"] = []
    async with httpx.AsyncClient(timeout=30) as http:
        for attempt in range(400):
            try:
                answer = await http.post(url, json=body, headers=headers)
            except httpx.TransportError as exc:
                outcome["retried"].append(type(exc).__name__)
                await asyncio.sleep(0.2)
                continue
            if answer.status_code in (201, 202):
                outcome.update(answer="accepted", id=answer.json()["id"], status=answer.status_code)
                return
            problem = answer.json()
            if answer.status_code == 409 and problem["type"].endswith("/insufficient-stock"):
                outcome.update(answer="rejected", id=problem["instance"].rsplit("/", 1)[-1])
                return
            assert answer.status_code in (409, 503), (answer.status_code, answer.text)  # in flight / away
            outcome["retried"].append(answer.status_code)
            await asyncio.sleep(min(2.0, 0.1 * (attempt + 1)))
    outcome["answer"] = "never answered"


def burst(estate: Estate, skus: list[str], disaster: Any) -> list[dict[str, Any]]:
    """``ORDERS`` shoppers arriving over ``ARRIVALS_S``; ``disaster()`` strikes once a third have been answered,
    while the others are in flight or still to come."""
    url = estate.url("process-orders") + "/orders"
    outcomes: list[dict[str, Any]] = [{} for _ in range(ORDERS)]
    identities = owner_headers(estate.settings.redis_url, PREFIX, [f"web:c-{n}" for n in range(ORDERS)])

    async def everyone() -> None:
        await asyncio.gather(
            *(
                client(
                    url,
                    {
                        "customer": {"id": f"c-{n}", "name": "Burst Shopper"},
                        "fulfilment": {"mode": "ship", "ship_to": ADDRESS},
                        "lines": [{"line_id": "1", "sku": skus[n % len(skus)], "qty": 1}],
                        "currency": "EUR",
                        "payment_reference": f"psp-{n}",
                    },
                    identities[n],
                    outcomes[n],
                    n * ARRIVALS_S / ORDERS,
                )
                for n in range(ORDERS)
            )
        )

    runner = threading.Thread(target=lambda: asyncio.run(everyone()))
    runner.start()
    deadline = time.monotonic() + 60
    while sum(1 for o in outcomes if o.get("answer")) < ORDERS // 3:
        assert time.monotonic() < deadline, "the burst did not get going"
        time.sleep(0.02)
    disaster()
    runner.join(300)
    assert not runner.is_alive()
    return outcomes


def settle_and_account(estate: Estate, skus: list[str], outcomes: list[dict[str, Any]]) -> None:
    assert all(o.get("answer") in ("accepted", "rejected") for o in outcomes), Counter(
        o.get("answer") for o in outcomes
    )
    retried = Counter(r for o in outcomes for r in o["retried"])
    print(f"answers {Counter(o['answer'] for o in outcomes)}; retries {dict(retried)}")
    assert retried, "the disaster struck mid-burst: some shoppers had to replay their key"
    accepted = [o["id"] for o in outcomes if o["answer"] == "accepted"]
    rejected = [o["id"] for o in outcomes if o["answer"] == "rejected"]
    assert len(set(accepted)) == len(accepted) and not set(accepted) & set(rejected)
    assert len(accepted) <= STOCK * len(skus), "never more accepted than the stock covers"
    state = redis.Redis.from_url(estate.settings.redis_url)

    def states() -> Counter[str]:
        raws = state.mget([ORDER_KEYS.order(i) for i in accepted])
        return Counter(json.loads(r)["state"] if r else "missing" for r in raws)

    deadline = time.monotonic() + 120
    while states() != {"released": len(accepted)}:
        assert time.monotonic() < deadline, f"accepted orders not all released: {states()}"
        time.sleep(0.5)
    (ops,) = owner_headers(estate.settings.redis_url, PREFIX, ["ops:test"])
    report = httpx.post(
        estate.url("process-orders") + "/reconciliations/documents",
        json={"order_ids": accepted + rejected},
        headers=ops,
        timeout=10,
    ).json()
    while report["state"] == "running":
        time.sleep(0.3)
        report = httpx.get(
            estate.url("process-orders") + f"/reconciliations/documents/{report['id']}", headers=ops, timeout=10
        ).json()
    assert report["state"] == "done" and report["error"] is None, report
    assert [m for m in report["mismatches"] if not m["repaired"]] == [], report["mismatches"]
    marks = ",".join("?" * len(accepted + rejected))
    sales = Counter(
        r[0]
        for r in sql(
            estate,
            "sandbox-erp",
            f"SELECT client_order_ref FROM sale_order WHERE client_order_ref IN ({marks}) AND state != 'cancel'",
            tuple(accepted + rejected),
        )
    )
    assert sales == {i: 1 for i in accepted}, "one live ERP sales order per accepted order, none for the rejected"
    fulfil = Counter(
        r[0]
        for r in sql(
            estate,
            "sandbox-wms",
            f"SELECT reference_id FROM orders WHERE reference_id IN ({marks}) AND status != 'Cancelled'",
            tuple(accepted + rejected),
        )
    )
    assert fulfil == {i: 1 for i in accepted}, "one live fulfilment order per accepted order, none for the rejected"
    # ATP = on hand at the WMS - allocations of the accepted orders (none shipped) - safety stock (0).
    allocated: Counter[str] = Counter()
    for raw in state.mget([ORDER_KEYS.order(i) for i in accepted]):
        for line in json.loads(raw)["lines"]:
            allocated[(line["sku"], line["location"])] += line["qty"]
    on_hand = {
        (f"dc-{w.lower()}", s): q
        for w, s, q in sql(
            estate,
            "sandbox-wms",
            "SELECT f.abbreviation, i.sku, l.on_hand FROM inventory_levels l JOIN locations f ON f.id = l.location_id "
            f"JOIN inventory i ON i.id = l.inventory_id WHERE i.sku IN ({','.join('?' * len(skus))})",
            tuple(skus),
        )
    }
    answer = httpx.post(
        estate.url("process-availability") + "/availability/query",
        json={"skus": skus},
        headers=operator(estate),
        timeout=10,
    ).json()
    for item in answer["items"]:
        for position in item["locations"]:
            if position["location"].startswith("dc-"):
                key = (position["location"], item["sku"])
                assert position["available"] == on_hand[key] - allocated[(item["sku"], position["location"])], key
    state.close()


def fresh_skus(estate: Estate, offset: int) -> list[str]:
    s = estate.settings_of(SandboxSettings)
    products = generate(s.seed, s.seed_skus, s.seed_stores, s.seed_dcs).products
    return [p.sku for p in products[offset : offset + 4]]


def test_redis_killed_mid_burst_loses_no_accepted_order_and_acts_on_none_twice(
    durable: tuple[Estate, PrivateRedis],
) -> None:
    estate, store = durable
    skus = fresh_skus(estate, 200)
    stock_up(estate, skus)

    def kill_redis() -> None:
        store.kill()
        time.sleep(2)  # requests meet no Redis: 503, retried by the shoppers
        store.start()

    settle_and_account(estate, skus, burst(estate, skus, kill_redis))


def test_process_orders_killed_mid_burst_loses_no_accepted_order_and_acts_on_none_twice(
    durable: tuple[ControlledEstate, PrivateRedis],
) -> None:
    estate, _ = durable
    skus = fresh_skus(estate, 210)
    stock_up(estate, skus)
    settle_and_account(estate, skus, burst(estate, skus, lambda: estate.restart("process-orders", kill=True)))
