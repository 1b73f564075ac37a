"""Reconciliation (DESIGN §4): compare the projection with WMS and POS snapshots, repair it, report the drift.

For each location the snapshot is read from its system of record (WMS for DCs, POS for stores); positions
whose on-hand differs are candidates. Before judging them, the run waits for the event consumers to catch up,
so an event still in flight is not called drift; then ``snapshot.lua`` rewrites each candidate that is still
older than (or as old as) the snapshot and returns what it changed: those are the drift rows. ERP financial
stock is compared with the repaired projection and reported apart; the ERP is never a source of repairs.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime

import msgspec
from redis.asyncio import Redis

from services.process.availability import sources
from services.process.availability.keys import Keys
from services.process.availability.projection import Projection, ms, snapshot_row
from services.process.availability.stores import Locations, dc_location
from shared.models.availability import DriftRow, Reconciliation
from shared.models.inventory import StockPosition
from shared.problems import ProblemError

log = logging.getLogger("omnigate.availability.reconcile")
KEEP_S = 7 * 86_400
CATCH_UP_S = 3.0
_decoder = msgspec.json.Decoder(Reconciliation)
_encoder = msgspec.json.Encoder()


def _now() -> datetime:
    return datetime.now(UTC)


class Reconciler:
    def __init__(self, redis: Redis, keys: Keys, projection: Projection, locations: Locations) -> None:
        self.redis = redis
        self.keys = keys
        self.projection = projection
        self.locations = locations
        self.http = projection.http
        self._tasks: set[asyncio.Task[Reconciliation]] = set()

    async def _save(self, report: Reconciliation) -> None:
        await self.redis.set(self.keys.reconciliation(report.id), _encoder.encode(report), ex=KEEP_S)

    async def get(self, recon_id: str) -> Reconciliation | None:
        raw = await self.redis.get(self.keys.reconciliation(recon_id))
        return _decoder.decode(raw) if raw is not None else None

    async def start(self, locations: list[str] | None) -> Reconciliation:
        """Record a running reconciliation and run it in the background of this worker."""
        report = Reconciliation(id=uuid.uuid4().hex, state="running", started_at=_now())
        await self._save(report)
        task = asyncio.create_task(self.run(report, locations), name=f"reconcile-{report.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return report

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def run(self, report: Reconciliation, only: list[str] | None = None) -> Reconciliation:
        try:
            report = await self._run(report, only)
        except ProblemError as exc:
            report = msgspec.structs.replace(report, state="failed", finished_at=_now(), error=exc.detail or exc.title)
        await self._save(report)
        log.info(
            "reconciliation %s %s: %d drift rows repaired, %d ERP drift rows",
            report.id,
            report.state,
            len(report.drift),
            len(report.erp_drift),
        )
        return report

    async def _snapshot(self, only: list[str] | None) -> tuple[list[StockPosition], list[str]]:
        stores = await sources.stores(self.http)
        positions: list[StockPosition] = []
        dcs: set[str] = set()
        async for page in sources.dc_stock(self.http):
            dcs.update(p.location for p in page)
            positions.extend(p for p in page if only is None or p.location in only)
        for store in stores:
            if only is None or store.id in only:
                async for page in sources.store_stock(self.http, store.id):
                    positions.extend(page)
        if only is None:
            await self.locations.replace([*(dc_location(d) for d in sorted(dcs)), *stores])
        return positions, sorted(d for d in dcs if only is None or d in only)

    async def _run(self, report: Reconciliation, only: list[str] | None) -> Reconciliation:
        positions, dcs = await self._snapshot(only)
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in positions:
                pipe.hmget(self.keys.sku(p.sku), [f"{p.location}|oh", f"{p.location}|t"])
            held = await pipe.execute()
        candidates = [
            p
            for p, (oh, t) in zip(positions, held, strict=True)
            if (oh is None or int(oh) != p.on_hand) and (t is None or int(t) <= ms(p.as_of))
        ]
        if candidates:
            await self.projection.caught_up(CATCH_UP_S)
        settings = self.projection.settings
        changed = await self.projection.write_rows(
            [snapshot_row(settings, p) for p in candidates], cause=f"recon:{report.id}"
        )
        source = {(p.sku, p.location): p.source for p in candidates}
        drift = [
            DriftRow(sku=sku, location=loc, projected=max(old, 0), actual=new, source=source.get((sku, loc), "wms"))
            for sku, loc, old, new in changed
        ]
        erp_drift, error = await self._erp_drift(dcs)
        return msgspec.structs.replace(
            report,
            state="done",
            finished_at=_now(),
            drift=drift,
            repaired=len(drift),
            erp_drift=erp_drift,
            error=error,
        )

    async def _erp_drift(self, dcs: list[str]) -> tuple[list[DriftRow], str | None]:
        """ERP financial stock against the (repaired) projection, reported only."""
        rows: list[DriftRow] = []
        try:
            for dc in dcs:
                async for page in sources.erp_stock(self.http, dc):
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for p in page:
                            pipe.hget(self.keys.sku(p.sku), f"{p.location}|oh")
                        held = await pipe.execute()
                    rows.extend(
                        DriftRow(sku=p.sku, location=p.location, projected=int(oh or 0), actual=p.on_hand, source="erp")
                        for p, oh in zip(page, held, strict=True)
                        if int(oh or 0) != p.on_hand
                    )
        except ProblemError as exc:
            return rows, f"ERP drift not checked: {exc.detail or exc.title}"
        return rows, None
