"""The one loader of Lua scripts: each script is a ``.lua`` file, registered once per Redis client.

Scripts live beside the module that uses them (the kernel's in ``shared/lua/``); ``load(redis, path)`` reads
the file once per process and returns redis-py's ``AsyncScript`` (EVALSHA, falling back to EVAL after a Redis
restart flushed the script cache).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

KERNEL = Path(__file__).with_name("lua")


@cache
def source(path: Path) -> str:
    return path.read_text()


def load(redis: Redis, path: Path, *, prelude: Path | Sequence[Path] | None = None) -> AsyncScript:
    """Register the script at ``path`` with ``redis``, after its ``prelude`` (one file or several, in order:
    shared helper functions, a fencing check)."""
    preludes = [] if prelude is None else [prelude] if isinstance(prelude, Path) else list(prelude)
    return redis.register_script("\n".join(source(p) for p in [*preludes, path]))


def kernel(redis: Redis, name: str) -> AsyncScript:
    return load(redis, KERNEL / f"{name}.lua")
