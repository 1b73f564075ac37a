"""Settings, correlation context, the problem catalogue and the seed catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.sandbox.common import catalogue
from shared import context
from shared.problems import CATALOGUE, ProblemError, type_uri
from shared.settings import Settings, from_env, url_env_name

ROOT = Path(__file__).resolve().parents[2]


def test_settings_from_env_types_and_urls() -> None:
    settings = from_env(
        Settings,
        {
            "REDIS_URL": "redis://r:1/2",
            "OMNIGATE_HTTP_TIMEOUT_S": "0.25",
            "OMNIGATE_BREAKER_FAIL_MAX": "7",
            "OMNIGATE_URL_SANDBOX_ERP": "http://127.0.0.1:9/",
            "OMNIGATE_UNRELATED": "ignored",
        },
    )
    assert settings.redis_url == "redis://r:1/2" and settings.cache_url == "redis://r:1/2"
    assert settings.http_timeout_s == 0.25 and settings.breaker_fail_max == 7
    assert settings.url_for("sandbox-erp") == "http://127.0.0.1:9"
    assert url_env_name("sandbox-erp") == "OMNIGATE_URL_SANDBOX_ERP"


def test_settings_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="breaker_fail_max"):
        from_env(Settings, {"OMNIGATE_BREAKER_FAIL_MAX": "many"})


def test_traceparent_is_continued_or_restarted() -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    _, answered = context.begin(None, f"00-{trace}-00f067aa0ba902b7-01")
    assert answered.startswith(f"00-{trace}-") and answered.endswith("-01")
    for bad in ("garbage", f"00-{'0' * 32}-00f067aa0ba902b7-01", f"01-{trace}-00f067aa0ba902b7-01"):
        _, answered = context.begin(None, bad)
        assert trace not in answered


def test_every_problem_type_is_documented() -> None:
    doc = (ROOT / "docs" / "problems.md").read_text()
    for slug in CATALOGUE:
        assert type_uri(slug) in doc, f"{slug} missing from docs/problems.md"
    with pytest.raises(ValueError):
        ProblemError("no-such-problem")


def test_catalogue_is_deterministic_and_sized() -> None:
    a = catalogue.generate(7, 300, 6, 2)
    b = catalogue.generate.__wrapped__(7, 300, 6, 2)  # bypass the cache: generated anew
    assert a == b
    assert len(a.products) == 300 and len(a.stores) == 6 and len(a.dcs) == 2
    assert len({p.sku for p in a.products}) == 300
    assert all(p.sku and len(p.sku) <= 64 for p in a.products)
    assert any(s.ship_from_store for s in a.stores) and not all(s.ship_from_store for s in a.stores)
    with pytest.raises(ValueError):
        catalogue.generate(1, 0, 1, 1)
