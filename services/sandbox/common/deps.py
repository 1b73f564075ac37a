"""What a sandbox's handlers work on, built by the sandbox's app factory and provided by type."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide

from services.sandbox.common.catalogue import Catalogue
from services.sandbox.common.webhooks import WebhookSender
from shared.settings import Settings


@dataclass(frozen=True, slots=True)
class Sandbox:
    """One reference back-end: its SQLite file, its catalogue, its outgoing webhooks (if it sends any)."""

    db: sqlite3.Connection
    catalogue: Catalogue
    webhooks: WebhookSender | None
    settings: Settings

    def sender(self) -> WebhookSender:
        if self.webhooks is None:
            raise RuntimeError("this sandbox sends no webhooks")
        return self.webhooks


def sandbox(state: State) -> Sandbox:
    found: Sandbox = state.sandbox
    return found


def conn(state: State) -> sqlite3.Connection:
    """The sandbox's SQLite connection (one per process: sandboxes run one worker)."""
    return sandbox(state).db


def webhook_sender(state: State) -> WebhookSender:
    return sandbox(state).sender()


DEPENDENCIES = {fn.__name__: Provide(fn, sync_to_thread=False) for fn in (sandbox, conn, webhook_sender)}


def settings_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Settings:
    """For guards, which Litestar does not inject into: the sandbox's settings."""
    return sandbox(connection.app.state).settings
