from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from estate.launcher import free_port, redis_answers
from tests.estate import TestEstate, start_test_estate


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: the one at REDIS_URL (default 127.0.0.1:6379) if it answers, else a private redis-server."""
    wanted = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if redis_answers(wanted):
        yield wanted
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("no Redis reachable and no redis-server installed")
    port = free_port()
    workdir: Path = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not redis_answers(url):
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("private redis-server did not start")
        time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def key_prefix(redis_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A private key prefix for one test; its keys are deleted afterwards."""
    prefix = f"unit{os.getpid()}-{request.node.name[:40]}-{time.monotonic_ns()}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[AsyncRedis]:
    """An asyncio client of the real Redis, for tests of kernel pieces that run on it."""
    client = AsyncRedis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def estate(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[TestEstate]:
    """One estate per test session: every deployable as a real granian process, real Redis."""
    launched, prefix = start_test_estate(tmp_path_factory.mktemp("estate"), redis_url)
    handle = TestEstate(launched, prefix)
    try:
        yield handle
    finally:
        launched.stop()
        found = handle.tracebacks()
        handle.clean_redis()
    if found:
        report = "\n\n".join(f"=== {name}\n{text}" for name, text in found.items())
        pytest.fail(f"tracebacks in process logs:\n{report}", pytrace=False)
