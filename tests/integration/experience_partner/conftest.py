"""experience-partner's test helper, as a fixture: the API under ``/partner/v1`` with callers' identity tokens
(tests/estate.py's ExperienceApi, which the three experience APIs' tests share)."""

from __future__ import annotations

import pytest

from tests.estate import ExperienceApi, TestEstate


@pytest.fixture
def partner(estate: TestEstate) -> ExperienceApi:
    return ExperienceApi(estate, "partner")
