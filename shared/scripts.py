"""The one loader of Lua scripts: each script is a ``.lua`` file, registered once per Redis client.

Scripts live beside the module that uses them (the kernel's in ``shared/lua/``); ``load(redis, path)`` reads
the file once per process and returns redis-py's ``AsyncScript`` (EVALSHA, falling back to EVAL after a Redis
restart flushed the script cache).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

KERNEL = Path(__file__).with_name("lua")


@cache
def source(path: Path) -> str:
    return path.read_text()


def load(redis: Redis, path: Path, *, prelude: Path | None = None) -> AsyncScript:
    """Register the script at ``path`` (``prelude`` first, for shared helper functions) with ``redis``."""
    text = source(path) if prelude is None else source(prelude) + "\n" + source(path)
    return redis.register_script(text)


def kernel(redis: Redis, name: str) -> AsyncScript:
    return load(redis, KERNEL / f"{name}.lua")
