"""Settings per deployable: the kernel's struct, each deployable's own, one reader, and README's generated table."""

from __future__ import annotations

import importlib
import typing
from typing import Annotated

import msgspec
import pytest
from litestar import get
from litestar.di import NamedDependency
from litestar.testing import TestClient
from msgspec import Meta

from estate import settings_table
from estate.launcher import Deployable, load_estate
from services.process.orders.settings import OrdersSettings
from shared.service import create_service
from shared.settings import Settings, from_env, get_settings

ESTATE = load_estate()
KERNEL_FIELDS = {
    "service",
    "redis_url",
    "cache_redis_url",
    "data_dir",
    "key_prefix",
    "log_level",
    "max_body_bytes",
    "redis_max_connections",
    "redis_pool_timeout_s",
    "redis_socket_timeout_s",
    "http_timeout_s",
    "http_connect_timeout_s",
    "breaker_fail_max",
    "breaker_reset_s",
    "retry_attempts",
    "retry_backoff_s",
    "upstream_commit_limit_s",
    "urls",
}
# Every variable the single settings struct read before the split: operators' names do not change.
VARIABLES_BEFORE_THE_SPLIT = {
    "REDIS_URL",
    "CACHE_REDIS_URL",
    "OMNIGATE_URL_<NAME>",
    *(
        f"OMNIGATE_{name.upper()}"
        for name in [
            "service",
            "data_dir",
            "key_prefix",
            "log_level",
            "max_body_bytes",
            "redis_max_connections",
            "redis_pool_timeout_s",
            "http_timeout_s",
            "http_connect_timeout_s",
            "breaker_fail_max",
            "breaker_reset_s",
            "retry_attempts",
            "retry_backoff_s",
            "upstream_commit_limit_s",
            "erp_api_key",
            "erp_database",
            "erp_price_poll_s",
            "pos_access_token",
            "pos_webhook_signature_key",
            "pos_webhook_url",
            "wms_access_token",
            "wms_webhook_secret",
            "wms_webhook_url",
            "seed",
            "seed_skus",
            "seed_stores",
            "seed_dcs",
            "availability_price_sync_s",
            "availability_reconcile_s",
            "availability_expiry_sweep_s",
            "availability_relay_s",
            "availability_dc_safety_stock",
            "availability_store_safety_stock",
            "orders_lock_ttl_s",
            "orders_retry_poll_s",
            "orders_retry_base_s",
            "orders_retry_max_s",
            "orders_retry_concurrency",
            "orders_idempotency_ttl_s",
            "orders_inflight_s",
            "orders_reservation_ttl_s",
            "orders_relay_s",
            "orders_stores_refresh_s",
            "orders_claim_idle_s",
            "orders_return_close_days",
            "orders_sweep_s",
            "orders_sweep_days",
        ]
    ),
}


def test_readme_settings_table_is_current() -> None:
    readme = settings_table.README.read_text()
    assert settings_table.render(readme, settings_table.table()) == readme, "README.md is stale: run `make settings`"


def test_no_variable_was_renamed_or_lost() -> None:
    # A rename loses the old name, so "none lost" is the check; new deployables (the gateway) add variables.
    assert VARIABLES_BEFORE_THE_SPLIT - {var.name for var, _ in settings_table.variables(ESTATE)} == set()


def test_the_kernel_keeps_only_what_the_kernel_uses() -> None:
    assert set(Settings.__struct_fields__) == KERNEL_FIELDS


@pytest.mark.parametrize("deployable", ESTATE, ids=lambda d: d.name)
def test_each_deployable_is_built_with_its_own_struct(deployable: Deployable) -> None:
    kind = deployable.settings_class()
    assert issubclass(kind, Settings) and kind is not Settings
    assert kind.__struct_config__.frozen
    module, _, factory = deployable.module.partition(":")
    create_app = getattr(importlib.import_module(module), factory)
    assert typing.get_type_hints(create_app)["settings"] == kind | None
    # Litestar checks an injected value against the declared type, and a struct is refused where its base class
    # is declared: every handler that takes the settings declares exactly its deployable's struct.
    app = deployable.build({"OMNIGATE_DATA_DIR": "/nonexistent"})
    declared = {
        f"{route.path} {handler.handler_name}": handler.parsed_fn_signature.parameters["settings"].annotation
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if "settings" in handler.parsed_fn_signature.parameters
    }
    assert {where: kind for where in declared} == declared


def test_from_env_reads_a_deployables_fields_as_it_always_did() -> None:
    settings = from_env(
        OrdersSettings,
        {
            "REDIS_URL": "redis://r:1/2",
            "OMNIGATE_ORDERS_LOCK_TTL_S": "3",
            "OMNIGATE_ORDERS_RETRY_CONCURRENCY": "4",
            "OMNIGATE_URL_PROCESS_AVAILABILITY": "http://127.0.0.1:9/",
            "OMNIGATE_ERP_API_KEY": "not process-orders' business",
        },
    )
    assert settings.orders_lock_ttl_s == 3.0 and settings.orders_retry_concurrency == 4
    assert settings.redis_url == "redis://r:1/2" and settings.url_for("process-availability") == "http://127.0.0.1:9"
    assert settings.orders_sweep_days == 7.0  # untouched fields keep their defaults
    assert not hasattr(settings, "erp_api_key")
    with pytest.raises(ValueError, match=r"invalid Omnigate settings in the environment: .*orders_sweep_s"):
        from_env(OrdersSettings, {"OMNIGATE_ORDERS_SWEEP_S": "hourly"})


class _Probe(Settings, kw_only=True, frozen=True):
    probe: Annotated[int, Meta(description="A field only this test reads.")] = 0


def test_settings_are_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIGATE_PROBE", "1")
    first = get_settings(_Probe)
    monkeypatch.setenv("OMNIGATE_PROBE", "2")
    assert get_settings(_Probe) is first and first.probe == 1


def test_a_handler_receives_its_deployables_struct() -> None:
    @get("/probe", sync_to_thread=False)
    def probe(settings: NamedDependency[_Probe]) -> int:
        return settings.probe

    app = create_service("svc-probe", [probe], title="t", description="d", uses_redis=False, settings=_Probe(probe=7))
    with TestClient(app) as client:
        assert client.get("/probe").json() == 7


class _Elsewhere(Settings, kw_only=True, frozen=True):
    probe: Annotated[int, Meta(description="The same variable with another default.")] = 1


def test_a_variable_means_one_thing_to_every_deployable_reading_it() -> None:
    def reading(kind: type[Settings]) -> Deployable:
        return Deployable(
            name=kind.__name__, layer="process", module="x:y", port=1, settings=f"{__name__}:{kind.__name__}"
        )

    with pytest.raises(ValueError, match="OMNIGATE_PROBE means different things"):
        settings_table.variables([reading(_Probe), reading(_Elsewhere)])


def test_every_field_says_what_it_is_for() -> None:
    class Silent(Settings, kw_only=True, frozen=True):
        silent: int = 0

    with pytest.raises(ValueError, match="Silent.silent has no Meta"):
        settings_table.variable(Silent, msgspec.structs.fields(Silent)[-1])
