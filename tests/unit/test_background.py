"""Start-up work retried in the background: upstream absences are waited out, bugs are not hidden."""

from __future__ import annotations

import pytest

from shared.background import until_done
from shared.problems import ProblemError


async def test_until_done_waits_out_upstream_problems() -> None:
    calls = 0

    async def step() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ProblemError("upstream-unavailable", "erp: answered 503", upstream="erp")
        return "filled"

    assert await until_done(step, what="maps", first_delay_s=0.001) == "filled"
    assert calls == 3


async def test_until_done_lets_bugs_through() -> None:
    async def step() -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        await until_done(step, what="maps", first_delay_s=0.001)
