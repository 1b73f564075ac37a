"""Outgoing webhooks of a sandbox back-end, delivered the way vendors deliver them.

Every notification is written to the sandbox's database first, then POSTed with the vendor's signature
headers, computed for each attempt (a timestamped signature must be fresh on a retry); failures are retried
with backoff (vendors retry for hours; we retry ``MAX_ATTEMPTS`` times).
``POST /_webhooks/{id}/redeliver`` sends a delivered notification again, byte for byte, as a vendor's
"resend" button or an at-least-once retry would, so tests can prove that receivers de-duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable

import aiohttp
import msgspec
from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from shared.background import wait_until_set
from shared.problems import not_found

log = logging.getLogger("omnigate.sandbox.webhooks")

SCHEMA = """
CREATE TABLE IF NOT EXISTS _webhooks (
  id TEXT PRIMARY KEY, url TEXT NOT NULL, body BLOB NOT NULL, headers TEXT NOT NULL,
  created_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL,
  delivered_at REAL, last_status INTEGER);
"""
MAX_ATTEMPTS = 8
# (url, raw body, the headers stored with the notification) -> signature headers for this attempt.
Signer = Callable[[str, bytes, dict[str, str]], dict[str, str]]


class WebhookDelivery(msgspec.Struct):
    id: str
    url: str
    attempts: int
    delivered: bool
    last_status: int | None


class WebhookSender:
    def __init__(self, conn: sqlite3.Connection, signer: Signer) -> None:
        self.conn = conn
        self.signer = signer
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None

    def enqueue(self, notification_id: str, url: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        """Record a notification (with any vendor headers that are the same on every attempt, such as an event
        id or topic); the delivery loop sends it at once. No URL configured: nothing to send."""
        if not url:
            return
        headers = {"Content-Type": "application/json", **(headers or {})}
        self.conn.execute(
            "INSERT OR IGNORE INTO _webhooks(id, url, body, headers, created_at, next_at) VALUES (?, ?, ?, ?, ?, ?)",
            (notification_id, url, body, msgspec.json.encode(headers).decode(), time.time(), 0.0),
        )
        self._wake.set()

    async def _send(self, row: sqlite3.Row) -> int | None:
        assert self._session is not None
        stored: dict[str, str] = msgspec.json.decode(row["headers"])
        headers = {**stored, **self.signer(row["url"], bytes(row["body"]), stored)}
        try:
            async with self._session.post(row["url"], data=row["body"], headers=headers) as resp:
                await resp.read()
                return resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.info("webhook %s to %s not delivered: %r", row["id"], row["url"], exc)
            return None

    async def redeliver(self, notification_id: str) -> int | None:
        row = self.conn.execute("SELECT * FROM _webhooks WHERE id = ?", (notification_id,)).fetchone()
        if row is None:
            raise not_found(f"webhook {notification_id}")
        return await self._send(row)

    async def run(self, stop: asyncio.Event) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            while not stop.is_set():
                due = self.conn.execute(
                    "SELECT * FROM _webhooks WHERE delivered_at IS NULL AND attempts < ? AND next_at <= ? "
                    "ORDER BY created_at LIMIT 50",
                    (MAX_ATTEMPTS, time.time()),
                ).fetchall()
                for row in due:
                    status = await self._send(row)
                    attempts = row["attempts"] + 1
                    if status is not None and 200 <= status < 300:
                        self.conn.execute(
                            "UPDATE _webhooks SET attempts=?, delivered_at=?, last_status=? WHERE id=?",
                            (attempts, time.time(), status, row["id"]),
                        )
                    else:
                        backoff = min(60.0, 0.5 * 2**attempts)
                        self.conn.execute(
                            "UPDATE _webhooks SET attempts=?, next_at=?, last_status=? WHERE id=?",
                            (attempts, time.time() + backoff, status, row["id"]),
                        )
                if not due:
                    self._wake.clear()
                    await wait_until_set(self._wake, 0.5)
        finally:
            await self._session.close()


@get("/_webhooks", tags=["sandbox"], summary="Recent outgoing webhook notifications")
async def list_webhooks(webhook_sender: NamedDependency[WebhookSender]) -> list[WebhookDelivery]:
    rows = webhook_sender.conn.execute(
        "SELECT id, url, attempts, delivered_at, last_status FROM _webhooks ORDER BY created_at DESC LIMIT 200"
    )
    return [WebhookDelivery(r[0], r[1], r[2], r[3] is not None, r[4]) for r in rows]


@post(
    "/_webhooks/{notification_id:str}/redeliver",
    tags=["sandbox"],
    summary="Send a notification again, body byte for byte",
    status_code=200,
)
async def redeliver(
    notification_id: FromPath[str], webhook_sender: NamedDependency[WebhookSender]
) -> dict[str, int | None]:
    return {"status": await webhook_sender.redeliver(notification_id)}


ROUTES = [list_webhooks, redeliver]
