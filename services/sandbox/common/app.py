"""Assembles a sandbox back-end: the service kernel, its SQLite file, seeding, faults and webhooks.

Each sandbox's ``app.py`` passes its vendor routes, schema, seed function and error renderer (errors.py: every
error of its vendor routes, the framework's own and the injected faults included, leaves in the vendor's shape);
everything that is the same for the three reference back-ends is done once here.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.types import ControllerRouterHandler

from services.sandbox.common import catalogue, db, errors, faults, webhooks
from services.sandbox.common.deps import DEPENDENCIES, S, Sandbox, sandbox
from services.sandbox.common.settings import SandboxSettings
from shared.service import create_service

SeedFn = Callable[[sqlite3.Connection, catalogue.Catalogue], None]
PrepareFn = Callable[[sqlite3.Connection], None]


def database_path(settings: SandboxSettings, name: str) -> Path:
    return settings.data_path / "sandbox" / f"{name}.sqlite3"


def open_database(settings: SandboxSettings, name: str, schema: str, seed: SeedFn) -> sqlite3.Connection:
    """Open (creating and seeding on first use) the sandbox's database; seeding is one transaction."""
    conn = db.connect(database_path(settings, name))
    faults.ensure_schema(conn)
    conn.executescript(webhooks.SCHEMA)
    if not db.has_table(conn, "_seeded"):
        conn.executescript(schema)
        cat = current_catalogue(settings)
        with db.Transaction(conn):
            seed(conn, cat)
            conn.execute("CREATE TABLE _seeded (seed INTEGER, skus INTEGER, stores INTEGER, dcs INTEGER)")
            conn.execute(
                "INSERT INTO _seeded VALUES (?, ?, ?, ?)", (cat.seed, len(cat.products), len(cat.stores), len(cat.dcs))
            )
    return conn


def seed_database(settings: SandboxSettings, name: str, schema: str, seed: SeedFn, *, force: bool) -> Path | None:
    """Create a sandbox's database afresh (the sandbox must be stopped); None if it exists and not ``force``."""
    path = database_path(settings, name)
    if path.exists() and not force:
        return None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    open_database(settings, name, schema, seed).close()
    return path


def current_catalogue(settings: SandboxSettings) -> catalogue.Catalogue:
    return catalogue.generate(settings.seed, settings.seed_skus, settings.seed_stores, settings.seed_dcs)


def create_sandbox(
    name: str,
    route_handlers: Sequence[ControllerRouterHandler],
    *,
    title: str,
    description: str,
    schema: str,
    seed: SeedFn,
    render_error: errors.Renderer,
    signer: webhooks.Signer | None = None,
    settings: S,
    prepare: PrepareFn | None = None,
) -> Litestar:
    """``settings`` is the back-end's own struct; its handlers receive ``Sandbox[<that struct>]``. ``prepare``
    readies the open connection for the back-end's queries (SQL functions it registers), once, before use.

    ``render_error`` turns a :class:`errors.VendorError` (status, reason, message, field) into the vendor's error
    body, for every error of the vendor routes (framework errors and injected faults)."""

    @asynccontextmanager
    async def sandbox_lifespan(app: Litestar) -> AsyncIterator[None]:
        conn = open_database(settings, name, schema, seed)
        if prepare is not None:
            prepare(conn)
        sender = webhooks.WebhookSender(conn, signer) if signer is not None else None
        app.state.sandbox = Sandbox(db=conn, catalogue=current_catalogue(settings), webhooks=sender, settings=settings)
        task = asyncio.create_task(sender.run(app.state.stop)) if sender is not None else None
        try:
            yield
        finally:
            if task is not None:
                await task
            conn.close()

    async def database_ready(app: Litestar) -> None:
        sandbox(app.state).db.execute("SELECT 1").fetchone()

    handlers = [*route_handlers, *faults.ROUTES, *(webhooks.ROUTES if signer else [])]
    app = create_service(
        name,
        handlers,
        title=title,
        description=description,
        uses_redis=False,
        lifespan=[sandbox_lifespan],
        readiness_checks=[database_ready],
        settings=settings,
        dependencies=DEPENDENCIES,
        exception_handlers=errors.exception_handlers(render_error),
        wrappers=[
            lambda app, inner: faults.FaultInjector(
                inner, lambda: sandbox(app.state).db, render_error, settings.upstream_commit_limit_s
            )
        ],
    )
    errors.document(app, render_error)
    return app
