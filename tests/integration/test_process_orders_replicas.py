"""Two process-orders instances started together after a crash resume each unfinished saga exactly once."""

from __future__ import annotations

import asyncio
import threading
import uuid

import httpx
import pytest

from tests.bench.load import process_tree
from tests.estate import TestEstate
from tests.integration.test_process_orders import (
    atp,
    clear_faults,
    erp_orders,
    headers,
    order_body,
    record,
    set_dc_stock,
    skus,
    wms_orders,
)

pytestmark = pytest.mark.estate


def test_two_instances_started_together_resume_each_saga_once(estate: TestEstate) -> None:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=30)
    # Pause every saga just before its ERP sales order: the ERP answers slowly.
    latency = {"route": "/json/2/sale.order/create", "latency_ms": 1200}  # below the 1.5 s hop timeout
    assert httpx.put(estate.url("sandbox-erp") + "/_faults", json=latency).status_code == 200
    owners = [f"web:replica-{n}" for n in range(10)]
    keys = [uuid.uuid4().hex for _ in owners]
    url = estate.url("process-orders") + "/orders"

    async def fire() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            await asyncio.gather(*(client.post(url, json=order_body(sku), headers=headers(o, k))
                                   for o, k in zip(owners, keys)), return_exceptions=True)

    thread = threading.Thread(target=lambda: asyncio.run(fire()))
    thread.start()
    idem = [f"{estate.prefix}omnigate.orders:idem:{o}:{k}" for o, k in zip(owners, keys)]

    def paused() -> list[str] | None:
        ids = [estate.redis.hget(key, "id") for key in idem]
        if None in ids:
            return None
        order_ids = [i.decode() for i in ids if i is not None]
        # The key names its order before the order is written (pricing and sourcing come first).
        raws = [estate.redis.get(f"{estate.prefix}omnigate.orders:order:{i}") for i in order_ids]
        if None in raws or not all(record(estate, i)["step"] == "erp_order" for i in order_ids):
            return None
        return order_ids

    ids = estate.wait_for(paused, timeout=20, interval=0.02, what="every order paused before its ERP order")
    workers_key = f"{estate.prefix}omnigate.orders:workers"
    estate.redis.delete(workers_key)
    _, replica_pid = estate.kill_and_start_with_replica("process-orders")
    thread.join(30)
    clear_faults(estate)
    estate.wait_for(lambda: all(record(estate, i)["state"] == "released" for i in ids), timeout=40, interval=0.2,
                    what="every order released after two instances came up")
    assert erp_orders(estate, ids) == {i: 1 for i in ids}
    assert wms_orders(estate, ids) == {i: 1 for i in ids}
    claims = estate.redis.hgetall(f"{estate.prefix}omnigate.orders:claims")
    assert {i: int(claims.get(f"o:{i}".encode(), 0)) for i in ids} == {i: 1 for i in ids}
    # Both instances ran their recovery loop (the replica's workers are among the pollers).
    pollers = {name.decode().rsplit("/", 1)[-1] for name in estate.redis.hgetall(workers_key)}
    replica_pids = {str(pid) for pid in process_tree(replica_pid)}
    assert pollers & replica_pids, (pollers, replica_pids)
    assert pollers - replica_pids, "the restarted deployable polled too"
    assert atp(estate, sku)["dc-tlb"] == 30 - len(ids)
