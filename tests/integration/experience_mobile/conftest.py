"""experience-mobile's test helper, as a fixture: the API under ``/mobile/v1`` with callers' identity tokens
(tests/estate.py's ExperienceApi, which the three experience APIs' tests share)."""

from __future__ import annotations

import pytest

from tests.estate import ExperienceApi, TestEstate


@pytest.fixture
def mobile(estate: TestEstate) -> ExperienceApi:
    return ExperienceApi(estate, "mobile")
