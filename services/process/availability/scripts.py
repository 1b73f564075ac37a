"""The Lua scripts that change the projection and reservations, each with the shared prelude (common.lua).

Every state change of process-availability is one of these scripts, so each change and the
``availability.changed`` event it causes land in Redis together (the event goes to the outbox stream in the
same script), and concurrent callers on any worker or replica see it all or not at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from services.process.availability.keys import Keys
from shared import scripts
from shared.clock import iso_ms, now_ms

HERE = Path(__file__).resolve().parent
NAMES = ("reserve", "transition", "apply", "snapshot")


class Scripts:
    def __init__(self, redis: Redis, keys: Keys, outbox_key: str) -> None:
        self._scripts: dict[str, AsyncScript] = {
            name: scripts.load(redis, HERE / f"{name}.lua", prelude=HERE / "common.lua") for name in NAMES
        }
        self._keys = [outbox_key, keys.ship_locations, keys.res_expiry]
        self._sku_base = keys.sku("")

    async def call(self, name: str, keys: list[str], args: list[Any], *, now: int | None = None) -> Any:
        stamp = now_ms() if now is None else now
        return await self._scripts[name](keys=[*self._keys, *keys], args=[self._sku_base, stamp, iso_ms(stamp), *args])
