"""What a sandbox's handlers work on, built by the sandbox's app factory and provided by type.

A :class:`Sandbox` carries its back-end's own settings struct (``Sandbox[SandboxPosSettings]``), so a handler or
a guard reads the credentials and webhook URL of that back-end with their types."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide

from services.sandbox.common.catalogue import Catalogue
from services.sandbox.common.settings import SandboxSettings
from services.sandbox.common.webhooks import WebhookSender

S = TypeVar("S", bound=SandboxSettings)


@dataclass(frozen=True, slots=True)
class Sandbox(Generic[S]):
    """One reference back-end: its SQLite file, its catalogue, its outgoing webhooks (if it sends any)."""

    db: sqlite3.Connection
    catalogue: Catalogue
    webhooks: WebhookSender | None
    settings: S

    def sender(self) -> WebhookSender:
        if self.webhooks is None:
            raise RuntimeError("this sandbox sends no webhooks")
        return self.webhooks


def sandbox(state: State) -> Sandbox[SandboxSettings]:
    """Handlers declare ``sandbox: NamedDependency[Sandbox[<this back-end's settings>]]``."""
    found: Sandbox[SandboxSettings] = state.sandbox
    return found


def conn(state: State) -> sqlite3.Connection:
    """The sandbox's SQLite connection (one per process: sandboxes run one worker)."""
    return sandbox(state).db


def webhook_sender(state: State) -> WebhookSender:
    return sandbox(state).sender()


DEPENDENCIES = {fn.__name__: Provide(fn, sync_to_thread=False) for fn in (sandbox, conn, webhook_sender)}


def settings_of(connection: ASGIConnection[Any, Any, Any, Any], kind: type[S]) -> S:
    """For guards, which Litestar does not inject into: the sandbox's settings, as the back-end's own struct."""
    found = sandbox(connection.app.state).settings
    if not isinstance(found, kind):
        raise TypeError(f"this sandbox runs with {type(found).__name__}, not {kind.__name__}")
    return found
