"""experience-web's test helper, as a fixture: the API under ``/web/v1`` with callers' identity tokens
(tests/estate.py's ExperienceApi, which the three experience APIs' tests share)."""

from __future__ import annotations

import pytest

from tests.estate import ExperienceApi, TestEstate


@pytest.fixture
def web(estate: TestEstate) -> ExperienceApi:
    return ExperienceApi(estate, "web")
