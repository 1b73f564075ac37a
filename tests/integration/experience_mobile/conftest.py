"""experience-mobile's test helpers, as fixtures: the API under ``/mobile/v1`` with callers' identity tokens
(tests/estate.py's ExperienceApi, which the three experience APIs' tests share), and a SKU's stock set in every
location at once, as the back-ends count it (tests/estate.py's :class:`Shelves`)."""

from __future__ import annotations

import pytest

from tests.estate import ExperienceApi, Shelves, TestEstate


@pytest.fixture
def mobile(estate: TestEstate) -> ExperienceApi:
    return ExperienceApi(estate, "mobile")


@pytest.fixture
def shelves(estate: TestEstate) -> Shelves:
    return Shelves(estate)
