"""experience-partner's test helpers, as fixtures: the API under ``/partner/v1`` with callers' identity tokens
(tests/estate.py's ExperienceApi, which the three experience APIs' tests share), and partners holding every scope
a partner key carries (:data:`PARTNER_SCOPES`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from tests.estate import ExperienceApi, TestEstate

# What a partner API key carries (gateway/authenticate.py's PARTNER_KEY_SCOPES, less the catalogue).
PARTNER_SCOPES = frozenset({"availability:read", "orders:read", "orders:write", "returns:write"})


@pytest.fixture
def partner(estate: TestEstate) -> ExperienceApi:
    return ExperienceApi(estate, "partner")


@pytest.fixture
def new_partner(partner: ExperienceApi) -> Callable[[], dict[str, str]]:
    """A partner no other test has seen, holding :data:`PARTNER_SCOPES`: its identity header."""
    return lambda: partner.caller(f"p-{uuid.uuid4().hex[:10]}", PARTNER_SCOPES)
