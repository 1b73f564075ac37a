"""Typed settings read from the environment, one struct for every deployable.

Every deployable reads the same struct so that the launcher, the chart and the tests configure the estate
one way: plain environment variables. Names are ``OMNIGATE_<FIELD>`` except the two Redis URLs, which keep
the conventional ``REDIS_URL`` / ``CACHE_REDIS_URL``. Upstream base URLs are ``OMNIGATE_URL_<NAME>`` with the
deployable's name upper-cased and dashes as underscores (``OMNIGATE_URL_SANDBOX_ERP``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import msgspec

ENV_PREFIX = "OMNIGATE_"
URL_PREFIX = "OMNIGATE_URL_"


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    service: str = "omnigate"
    redis_url: str = "redis://127.0.0.1:6379/0"
    cache_redis_url: str = ""
    data_dir: str = ".omnigate"
    # Every Redis key and stream name starts with this, so tests and several estates can share one Redis.
    key_prefix: str = ""
    log_level: str = "INFO"
    # Largest request body any deployable accepts; larger ones get 413 problem+json.
    max_body_bytes: int = 1_048_576

    # Outbound hops (shared.http).
    # Redis connections per worker; a request waits up to redis_pool_timeout_s for one rather than failing.
    redis_max_connections: int = 256
    redis_pool_timeout_s: float = 5.0

    http_timeout_s: float = 5.0
    http_connect_timeout_s: float = 1.0
    breaker_fail_max: int = 5
    breaker_reset_s: float = 30.0
    retry_attempts: int = 3
    retry_backoff_s: float = 0.05
    # The longest a back-end may still commit a request after a caller gave up on it: the back-end's own
    # request time limit (Odoo's limit_time_real is 120 s by default). A create whose answer was lost has an
    # unknown outcome until this has passed; the sandboxes drop requests they could not start within it.
    upstream_commit_limit_s: float = 120.0

    # Back-end credentials; the launcher generates them at first run, the chart reads them from Secrets.
    erp_api_key: str = ""
    erp_database: str = "omnigate"
    # Odoo has no webhooks: system-erp polls for changed prices this often and publishes them as events
    # (0 turns the feed off; consumers then rely on scheduled full syncs).
    erp_price_poll_s: float = 30.0
    pos_access_token: str = ""
    pos_webhook_signature_key: str = ""
    pos_webhook_url: str = ""
    wms_api_key: str = ""
    wms_webhook_secret: str = ""
    wms_webhook_url: str = ""

    # Sandbox seed: deterministic by seed, size configurable (tests use a small one).
    seed: int = 42
    seed_skus: int = 5000
    seed_stores: int = 40
    seed_dcs: int = 2

    urls: dict[str, str] = msgspec.field(default_factory=dict)

    # process-availability: background rounds (each under a lease) and ATP policy.
    availability_price_sync_s: float = 300.0
    availability_reconcile_s: float = 3600.0
    availability_expiry_sweep_s: float = 1.0
    availability_relay_s: float = 0.1
    availability_dc_safety_stock: int = 0
    availability_store_safety_stock: int = 0

    # process-orders: per-order lock, saga retries (backoff), idempotency records, background rounds.
    orders_lock_ttl_s: float = 10.0
    orders_retry_poll_s: float = 0.5
    orders_retry_base_s: float = 1.0
    orders_retry_max_s: float = 60.0
    orders_retry_concurrency: int = 16
    orders_idempotency_ttl_s: int = 86_400
    orders_inflight_s: float = 30.0
    orders_reservation_ttl_s: int = 900
    orders_relay_s: float = 0.2
    orders_stores_refresh_s: float = 300.0
    # How long a fulfilment fact may stay unacknowledged with a consumer before another takes it over (facts the
    # order is not ready for are parked and acknowledged, never left to redelivery).
    orders_claim_idle_s: float = 5.0
    # A return of which the DC received only part closes (reported) this long after it was requested.
    orders_return_close_days: float = 14.0
    # The document sweep: how often it runs on its own (under a lease; 0 = only on demand) and how far back
    # it looks (orders created in the last N days).
    orders_sweep_s: float = 3600.0
    orders_sweep_days: float = 7.0

    @property
    def cache_url(self) -> str:
        return self.cache_redis_url or self.redis_url

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    def url_for(self, name: str) -> str:
        """Base URL of another deployable; a missing one is a deployment error worth failing loudly on."""
        try:
            return self.urls[name]
        except KeyError:
            raise LookupError(f"no URL configured for {name!r}: set {url_env_name(name)}") from None


def url_env_name(name: str) -> str:
    return URL_PREFIX + name.upper().replace("-", "_")


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    fields = set(Settings.__struct_fields__)
    raw: dict[str, object] = {}
    urls: dict[str, str] = {}
    for key, value in env.items():
        if key.startswith(URL_PREFIX):
            urls[key[len(URL_PREFIX) :].lower().replace("_", "-")] = value.rstrip("/")
        elif key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            if name in fields and name != "urls":
                raw[name] = value
    if "REDIS_URL" in env:
        raw["redis_url"] = env["REDIS_URL"]
    if "CACHE_REDIS_URL" in env:
        raw["cache_redis_url"] = env["CACHE_REDIS_URL"]
    raw["urls"] = urls
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid Omnigate settings in the environment: {exc}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once: deployables are configured at start, not mid-flight."""
    return from_env()
