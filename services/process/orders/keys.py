"""process-orders' Redis keys, all under ``<prefix>omnigate.orders:`` (the per-order lock is the kernel's
``order:<id>`` lock; idempotency records are the kernel's too)."""

from __future__ import annotations


class Keys:
    def __init__(self, prefix: str) -> None:
        self.base = f"{prefix}omnigate.orders:"
        self.due = self.base + "due"  # sorted set by next-attempt time: o:<order id>, r:<order id>:<return id>
        self.claims = self.base + "claims"  # hash: how often each saga was claimed by a retry worker
        self.workers = self.base + "workers"  # hash: retry workers and when each last polled
        self.created = self.base + "created"  # sorted set: every order id by creation time (the sweep's window)

    def order(self, order_id: str) -> str:
        return f"{self.base}order:{order_id}"

    def ret(self, return_id: str) -> str:
        return f"{self.base}return:{return_id}"

    def timeline(self, order_id: str) -> str:
        return f"{self.base}timeline:{order_id}"

    def owner(self, owner: str) -> str:
        """Sorted set of the owner's order ids by creation time."""
        return f"{self.base}owner:{owner}"

    def facts(self, order_id: str) -> str:
        """Hash: back-end facts parked until the saga can apply them, by event id."""
        return f"{self.base}facts:{order_id}"

    def sweep(self, sweep_id: str) -> str:
        return f"{self.base}sweep:{sweep_id}"
