"""Kernel mechanisms of issue 6 on a real Redis: locks that stay held while a write is in doubt, fenced state
changes with their own event identity, and Idempotency-Key resumption."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest
from litestar import Litestar, Request, post
from litestar.params import JSONBody
from litestar.testing import TestClient
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from shared import scripts
from shared.changes import Changes, Exists, Locked
from shared.clock import utcnow
from shared.idempotency import Idempotency, Stored, fingerprint
from shared.locks import Fenced, Locks
from shared.models.orders import CancelRequest
from shared.problems import ProblemError
from shared.service import create_service
from shared.settings import Settings, from_env


async def test_a_lock_is_one_holder_waits_then_409_and_is_fenced(aredis: Redis, key_prefix: str) -> None:
    locks = Locks(aredis, prefix=key_prefix)
    async with locks.locked("doc:1", ttl_s=5) as held:
        assert await held.fence_ok()
        with pytest.raises(ProblemError) as busy:
            async with locks.locked("doc:1", ttl_s=5, wait_s=0.1):
                pass
        assert busy.value.status == 409 and busy.value.retry_after and busy.value.retry_after >= 1
    async with locks.locked("doc:1", ttl_s=5, wait_s=0.1):  # released on a definite end
        pass
    stalled = locks.lock("doc:2", ttl_s=0.1)
    assert await stalled.try_acquire()
    await asyncio.sleep(0.2)  # stalls past its TTL
    newer = locks.lock("doc:2", ttl_s=5)
    assert await newer.try_acquire()
    assert not await stalled.fence_ok() and not await stalled.renew()


async def test_a_write_in_doubt_keeps_the_lock_until_the_commit_limit(aredis: Redis, key_prefix: str) -> None:
    locks = Locks(aredis, prefix=key_prefix)

    async def lost_answer() -> None:
        raise ProblemError("upstream-timeout", "erp: no answer within 1.5s", upstream="erp")

    async def refused() -> None:
        raise ProblemError("unprocessable", "unknown SKU")

    with pytest.raises(ProblemError):
        async with locks.locked("doc:3", ttl_s=5, settle_s=0.5) as lock:
            await lock.write(lost_answer())
    with pytest.raises(ProblemError) as busy:
        async with locks.locked("doc:3", ttl_s=5, wait_s=0.1):
            pass
    assert busy.value.status == 409, "the next search waits until the lost write's outcome is known"
    await asyncio.sleep(0.5)
    async with locks.locked("doc:3", ttl_s=5, wait_s=0.1):
        pass  # the commit limit has passed
    with pytest.raises(ProblemError):
        async with locks.locked("doc:4", ttl_s=5, settle_s=30) as lock:
            await lock.write(refused())  # a refusal is definite: nothing committed
    async with locks.locked("doc:4", ttl_s=5, wait_s=0.1):
        pass
    unsent = ProblemError("upstream-unavailable", "erp: cannot be reached", upstream="erp", in_doubt=False)
    assert not unsent.in_doubt and ProblemError("upstream-error").in_doubt


class Doc(msgspec.Struct, kw_only=True):
    id: str
    state: str
    seq: int = 0
    updated_at: Any = None
    correlation_id: str | None = None


async def test_a_state_change_is_fenced_created_once_and_its_events_name_the_transition(
    aredis: Redis, key_prefix: str
) -> None:
    from shared.changes import Change, now_entry

    changes = Changes(aredis)
    locks = Locks(aredis, prefix=key_prefix)
    outbox, due, key, timeline = (f"{key_prefix}{n}" for n in ("outbox", "due", "doc:1", "timeline:1"))
    doc = Doc(id="d1", state="new", updated_at=utcnow())

    def enter(state: str) -> Change:
        change = Change(outbox=outbox, due=due)
        change.transition(
            doc,
            state,
            timeline=timeline,
            entry=now_entry(state, "test"),
            domain="docs",
            source="docs",
            event_type=f"doc.{state}",
            payload={"state": state},
        )
        return change.put(key, doc, create=doc.seq == 1)

    lock = locks.lock("doc:d1", ttl_s=5)
    await changes.apply(lock, enter("pending"), acquire=True)
    other = locks.lock("doc:d1", ttl_s=5)
    with pytest.raises(Locked):
        await changes.apply(other, Change(outbox=outbox, due=due).put(key, doc), acquire=True)
    await changes.apply(lock, enter("running").due("d:d1", 1))
    await changes.apply(lock, enter("pending"))
    ids = [msgspec.json.decode(f[b"data"])["id"] for _, f in await aredis.xrange(outbox)]
    assert ids == ["docs:d1:1:pending", "docs:d1:2:running", "docs:d1:3:pending"], "entering a state twice is two"
    assert await aredis.llen(timeline) == 3 and await aredis.zscore(due, "d:d1") == 1
    with pytest.raises(Fenced):
        await changes.apply(other, Change(outbox=outbox, due=due).put(key, doc))
    await lock.release()
    fresh = locks.lock("doc:d1", ttl_s=5)
    with pytest.raises(Exists):  # no write replaces an existing record
        await changes.apply(
            fresh, Change(outbox=outbox, due=due).put(key, Doc(id="d1", state="new"), create=True), acquire=True
        )
    assert not await aredis.exists(fresh.key), "a refused change takes no lock"
    assert msgspec.json.decode(await aredis.get(key))["seq"] == 3


def test_a_key_whose_first_attempt_died_resumes_what_it_started(redis_url: str, key_prefix: str) -> None:
    started: list[str] = []
    answers = {"status": 201}

    @asynccontextmanager
    async def idempotency(app: Litestar) -> AsyncIterator[None]:
        app.state.idem = Idempotency(app.state.redis, prefix=key_prefix, service="svc", ttl_s=60, inflight_s=0.3)
        yield

    @post("/things", status_code=201)
    async def create(request: Request[Any, Any, Any], data: JSONBody[CancelRequest]) -> Any:
        redis: Redis = request.app.state.redis

        async def start(thing_id: str) -> Stored:
            started.append(thing_id)
            await redis.set(f"{key_prefix}thing:{thing_id}", b"made")
            return Stored(
                answers["status"], f"/things/{thing_id}", "application/json", msgspec.json.encode({"id": thing_id})
            )

        async def resume(thing_id: str) -> Stored | None:
            if await redis.get(f"{key_prefix}thing:{thing_id}") is None:
                return None
            return Stored(
                201, f"/things/{thing_id}", "application/json", msgspec.json.encode({"id": thing_id, "resumed": True})
            )

        return await request.app.state.idem.respond(
            request, owner="web:c-1", data=data, new_id=f"t{len(started)}", start=start, resume=resume
        )

    app = create_service(
        "idem-test",
        [create],
        title="t",
        description="d",
        lifespan=[idempotency],
        settings=from_env(Settings, {"REDIS_URL": redis_url}),
    )
    sync = SyncRedis.from_url(redis_url)
    with TestClient(app) as client:
        first = client.post("/things", json={"reason": "x"}, headers={"Idempotency-Key": '"k-0"'})
        assert first.status_code == 201
        # A first attempt that claimed key k-1 and made thing "t-dead", then its process was killed: the claim
        # stays in flight until its lease lapses, and nothing of it answers.
        now = int(time.time() * 1000)
        fp = fingerprint("POST", "/things", "web:c-1", CancelRequest(reason="x"))
        claim = sync.register_script(scripts.source(scripts.KERNEL / "idempotency_begin.lua"))
        record = client.app.state.idem.record_key("web:c-1", "k-1")
        claim(keys=[record], args=[fp, "t-dead", now, now + 300, 60_000, "x"])
        sync.set(f"{key_prefix}thing:t-dead", b"made")
        headers = {"Idempotency-Key": '"k-1"'}
        busy = client.post("/things", json={"reason": "x"}, headers=headers)
        assert busy.status_code == 409 and busy.headers["retry-after"]
        time.sleep(0.4)  # the dead attempt's lease lapses
        resumed = client.post("/things", json={"reason": "x"}, headers=headers)
        assert resumed.status_code == 201 and resumed.json() == {"id": "t-dead", "resumed": True}
        assert started == ["t0"], "the replay resumed the thing the first attempt started, never a new one"
        replay = client.post("/things", json={"reason": "x"}, headers={"Idempotency-Key": "k-1"})
        assert (replay.status_code, replay.content) == (201, resumed.content)
        reused = client.post("/things", json={"reason": "y"}, headers=headers)
        assert reused.status_code == 422 and reused.json()["type"].endswith("/idempotency-key-reused")
        # A 5xx answer is not kept: the key's next request resumes its thing at once (no new thing).
        answers["status"] = 503
        failed = client.post("/things", json={"reason": "z"}, headers={"Idempotency-Key": "k-2"})
        assert failed.status_code == 503
        answers["status"] = 201
        again = client.post("/things", json={"reason": "z"}, headers={"Idempotency-Key": "k-2"})
        assert again.status_code == 201 and again.json()["resumed"] is True and started == ["t0", "t1"]
    sync.close()
