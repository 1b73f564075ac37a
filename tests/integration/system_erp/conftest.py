"""system-erp's test helpers, as fixtures: the seeded catalogue the ERP sandbox holds, and clients of system-erp
and of its sandbox (faults staged through the sandbox client are cleared after each test)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from services.sandbox.common.catalogue import Catalogue, generate
from services.sandbox.common.settings import SandboxSettings
from tests.estate import TestEstate


@pytest.fixture(scope="module")
def catalogue(estate: TestEstate) -> Catalogue:
    s = estate.settings_of(SandboxSettings)
    return generate(s.seed, s.seed_skus, s.seed_stores, s.seed_dcs)


@pytest.fixture
def erp(estate: TestEstate) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=estate.url("system-erp"), timeout=15) as client:
        yield client


@pytest.fixture
def sandbox(estate: TestEstate) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=estate.url("sandbox-erp"), timeout=15) as client:
        yield client
        client.delete("/_faults")
