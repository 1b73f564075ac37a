"""Two process-orders instances started together after a crash resume each unfinished saga exactly once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.bench.load import process_tree
from tests.estate import TestEstate

if TYPE_CHECKING:
    from tests.integration.process_orders.conftest import Orders

pytestmark = pytest.mark.estate


def test_two_instances_started_together_resume_each_saga_once(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=30)
    ids, thread = orders.pause_at(
        sku, sandbox="sandbox-erp", route="/json/2/sale.order/create", step="erp_order", count=10
    )
    estate.forget_saga_pollers()
    _, replica_pid = estate.kill_and_start_with_replica("process-orders")
    thread.join(30)
    estate.clear_faults()
    estate.wait_for(
        lambda: all(estate.order_record(i)["state"] == "released" for i in ids),
        timeout=40,
        interval=0.2,
        what="every order released after two instances came up",
    )
    assert orders.erp_orders(ids) == {i: 1 for i in ids}
    assert orders.wms_orders(ids) == {i: 1 for i in ids}
    claims = estate.saga_claims()
    assert {i: claims.get(f"o:{i}", 0) for i in ids} == {i: 1 for i in ids}
    # Both instances ran their recovery loop (the replica's workers are among the pollers).
    pollers = {name.rsplit("/", 1)[-1] for name in estate.saga_pollers()}
    replica_pids = {str(pid) for pid in process_tree(replica_pid)}
    assert pollers & replica_pids, (pollers, replica_pids)
    assert pollers - replica_pids, "the restarted deployable polled too"
    assert orders.atp(sku)["dc-tlb"] == 30 - len(ids)
