"""The step driver of orders and returns (services/process/orders/driver.py): a lock lost while the outcome of a
step is being saved (a refusal recorded, a retry parked) means another driver has the record and continues it.
The driver stops quietly; it never lets ``Fenced`` escape as an unexpected exception (seen under load in the
durability test: a saga resumed by recovery lost its lock while parking a retry, and the traceback was logged)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from services.process.orders.backends import Refused
from services.process.orders.driver import Driver
from shared.locks import Fenced
from shared.problems import ProblemError


@dataclass
class Record:
    id: str = "o-1"
    steps: list[str] = field(default_factory=list)
    done: bool = False


class Scripted(Driver[Record]):
    """A driver whose one step fails as told and whose saving of that failure finds the lock gone."""

    kind = "order"

    def __init__(self, failure: Exception) -> None:
        self.failure = failure

    def _key(self, record: Record) -> str:
        return "k"

    def _member(self, record: Record) -> str:
        return "m"

    def _order_id(self, record: Record) -> str:
        return "o"

    def _payload(self, record: Record, state: str) -> dict[str, object]:
        return {}

    def _settled(self, record: Record) -> bool:
        return record.done

    def _stops(self, record: Record) -> bool:
        return record.done

    async def _step(self, record: Record, lock: object) -> None:
        record.steps.append("step")
        raise self.failure

    async def _refused(self, record: Record, lock: object, exc: Refused) -> None:
        record.steps.append("refused")
        raise Fenced("lock:o")  # saving the refusal: the lock lapsed and another driver took it

    async def _transient(self, record: Record, lock: object, exc: ProblemError) -> bool:
        record.steps.append("transient")
        raise Fenced("lock:o")  # parking the retry: the same


@pytest.mark.parametrize(
    ("failure", "handled_by"),
    [
        (ProblemError("upstream-unavailable", "erp: away"), "transient"),
        (Refused("erp", 409, None, b"{}"), "refused"),
    ],
)
def test_a_lock_lost_while_saving_a_steps_outcome_stops_the_driver_quietly(failure: Exception, handled_by: str) -> None:
    record = Record()
    continued_here = asyncio.run(Scripted(failure)._run(record, lock=object()))
    assert continued_here is False
    assert record.steps == ["step", handled_by]
