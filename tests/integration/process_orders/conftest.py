"""process-orders' test helpers, as fixtures: the ``orders`` driver places and reads orders and returns through
the API, sets the stock they take (a WMS cycle count, read back from process-availability) and counts the
documents the back-ends hold behind them (in the sandboxes' own SQLite files). Faults staged by a test are
cleared after it, whichever module it is in."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.estate import TestEstate, order_body

NAME = "process-orders"
OWNER = "web:c-1"


class Orders:
    """process-orders in the session's estate, as its tests drive it."""

    def __init__(self, estate: TestEstate) -> None:
        self.estate = estate

    @property
    def url(self) -> str:
        return self.estate.url(NAME)

    # --- requests ----------------------------------------------------------------------------------------------

    @staticmethod
    def body(sku: str, qty: int = 1, *, mode: str = "ship", store: str | None = None, **extra: Any) -> dict[str, Any]:
        return order_body(sku, qty, mode=mode, store=store, **extra)

    def headers(self, owner: str = OWNER, key: str | None = None) -> dict[str, str]:
        """The caller's identity token (as the gateway mints it) and an ``Idempotency-Key``."""
        return {**self.estate.identity(owner), "Idempotency-Key": key or uuid.uuid4().hex}

    def place(self, body: dict[str, Any], owner: str = OWNER, key: str | None = None) -> httpx.Response:
        return httpx.post(self.url + "/orders", json=body, headers=self.headers(owner, key), timeout=30)

    def get(self, order_id: str, owner: str = OWNER) -> dict[str, Any]:
        response = httpx.get(self.url + f"/orders/{order_id}", headers=self.estate.identity(owner), timeout=10)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def timeline(self, order_id: str, owner: str = OWNER) -> list[dict[str, Any]]:
        response = httpx.get(self.url + f"/orders/{order_id}/timeline", headers=self.estate.identity(owner), timeout=10)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait_state(self, order_id: str, state: str, timeout: float = 15, owner: str = OWNER) -> None:
        self.estate.wait_for(
            lambda: self.get(order_id, owner)["state"] == state, timeout=timeout, what=f"order {order_id} {state}"
        )

    def cancel(self, order_id: str, owner: str = OWNER, key: str | None = None) -> httpx.Response:
        return httpx.post(
            self.url + f"/orders/{order_id}/cancel",
            json={"reason": "test"},
            headers=self.headers(owner, key),
            timeout=30,
        )

    def deliver(self, order_id: str) -> None:
        """The WMS ships and delivers the order; wait until process-orders has it delivered."""
        wms = self.estate.url("sandbox-wms")
        assert httpx.post(wms + "/_sim/ship", json={"order_reference": order_id}, timeout=10).status_code == 200
        assert httpx.post(wms + "/_sim/deliver", json={"order_reference": order_id}, timeout=10).status_code == 200
        self.wait_state(order_id, "delivered")

    def request_return(self, order_id: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        return httpx.post(
            self.url + f"/orders/{order_id}/returns", json=body, headers=self.headers(OWNER, key), timeout=30
        )

    def get_return(self, return_id: str) -> dict[str, Any]:
        response = httpx.get(self.url + f"/returns/{return_id}", headers=self.estate.identity(OWNER), timeout=10)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def pause_at(
        self,
        sku: str,
        *,
        sandbox: str,
        route: str,
        step: str,
        count: int,
        started: dict[str, tuple[str, str]] | None = None,
    ) -> tuple[list[str], threading.Thread]:
        """Place ``count`` orders while the sandbox answers ``route`` slowly (below the hop timeout), and return
        once every one of them is written and parked at ``step``: a step boundary a crash can hit. ``started``
        (if given) receives, per order id, the owner and Idempotency-Key that placed it."""
        estate = self.estate
        estate.fault(sandbox, route=route, latency_ms=1200)
        owners = [f"web:pause-{step}-{uuid.uuid4().hex[:8]}-{n}" for n in range(count)]
        keys = [uuid.uuid4().hex for _ in owners]
        headers = [self.headers(o, k) for o, k in zip(owners, keys, strict=True)]  # minted outside the loop
        url = self.url + "/orders"

        async def fire() -> None:
            async with httpx.AsyncClient(timeout=30) as client:
                await asyncio.gather(
                    *(client.post(url, json=self.body(sku), headers=h) for h in headers),
                    return_exceptions=True,
                )

        thread = threading.Thread(target=lambda: asyncio.run(fire()))
        thread.start()

        def paused() -> list[str] | None:
            # The key names its order before the order is written (pricing and sourcing come first).
            ids = [estate.idempotent_request_id(NAME, o, k) for o, k in zip(owners, keys, strict=True)]
            order_ids = [i for i in ids if i is not None]
            if len(order_ids) < len(ids):
                return None
            if started is not None:
                started.update({i: (o, k) for i, o, k in zip(order_ids, owners, keys, strict=True)})
            records = estate.order_records(order_ids)
            if not all(r is not None and r["step"] == step for r in records):
                return None
            return order_ids

        return estate.wait_for(paused, timeout=20, interval=0.02, what=f"every order paused at {step}"), thread

    # --- the stock orders take -----------------------------------------------------------------------------------

    def atp(self, sku: str) -> dict[str, int]:
        return self.estate.atp(sku)

    def set_dc_stock(self, sku: str, tlb: int, zwl: int = 0) -> None:
        self.estate.set_dc_stock(sku, tlb, zwl)

    def stocked_store(self, sku: str, min_qty: int) -> str:
        stock = self.atp(sku)
        stores = sorted(
            (loc for loc in stock if loc.startswith("store-") and stock[loc] >= min_qty), key=lambda loc: -stock[loc]
        )
        assert stores, f"no store holds {min_qty} of {sku}: {stock}"
        return stores[0]

    # --- the documents behind orders and returns, in the sandboxes' own databases ---------------------------

    def _column(self, sandbox: str, select: str, table: str, column: str, refs: list[str]) -> list[tuple[Any, ...]]:
        marks = ",".join("?" * len(refs))
        return self.estate.sql(sandbox, f"SELECT {select} FROM {table} WHERE {column} IN ({marks})", tuple(refs))

    def erp_orders(self, refs: list[str]) -> Counter[str]:
        rows = self._column("sandbox-erp", "client_order_ref", "sale_order", "client_order_ref", refs)
        return Counter(r[0] for r in rows)

    def erp_states(self, refs: list[str]) -> dict[str, str]:
        return dict(self._column("sandbox-erp", "client_order_ref, state", "sale_order", "client_order_ref", refs))

    def wms_orders(self, refs: list[str]) -> Counter[str]:
        rows = self._column("sandbox-wms", "reference_id", "orders", "reference_id", refs)
        return Counter(r[0] for r in rows)

    def wms_status(self, ref: str) -> str | None:
        """The WMS order's status in the words the tests use: ShipBob's Processing/Exception is "received"."""
        rows = self.estate.sql("sandbox-wms", "SELECT status FROM orders WHERE reference_id = ?", (ref,))
        words = {"Processing": "received", "Exception": "received", "Cancelled": "cancelled"}
        return words.get(rows[0][0], "shipped") if rows else None

    def credit_memos(self, ref: str) -> list[tuple[str, float]]:
        query = "SELECT state, amount_total FROM account_move WHERE ref = ? ORDER BY id"
        return [(r[0], r[1]) for r in self.estate.sql("sandbox-erp", query, (ref,))]


@pytest.fixture
def orders(estate: TestEstate) -> Orders:
    return Orders(estate)


@pytest.fixture(autouse=True)
def _faults_cleared(estate: TestEstate) -> Iterator[None]:
    yield
    estate.clear_faults()
