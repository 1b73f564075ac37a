"""Typed settings read from the environment: the kernel's own, and the reader every deployable's struct uses.

The kernel's :class:`Settings` holds what the kernel itself uses (Redis, the key prefix, logging, body limits,
hop timeouts, breakers, retries, upstream URLs). A deployable adds its own fields in its ``settings.py``, a
struct extending this one, and reads it with ``from_env(ItsSettings)``: one reader, one way of naming, so the
launcher, the chart and the tests configure the estate one way, with plain environment variables. Names are
``OMNIGATE_<FIELD>`` except the two Redis URLs, which keep the conventional ``REDIS_URL`` / ``CACHE_REDIS_URL``.
Upstream base URLs are ``OMNIGATE_URL_<NAME>`` with the deployable's name upper-cased and dashes as underscores
(``OMNIGATE_URL_SANDBOX_ERP``). Every field says what it is for in its ``Meta(description=...)``: README's
table of environment variables is generated from them (``make settings``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, TypeVar

import msgspec
from msgspec import Meta

ENV_PREFIX = "OMNIGATE_"
URL_PREFIX = "OMNIGATE_URL_"
# Fields whose variable keeps its conventional name rather than OMNIGATE_<FIELD>.
CONVENTIONAL_NAMES = {"redis_url": "REDIS_URL", "cache_redis_url": "CACHE_REDIS_URL"}


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    service: Annotated[
        str, Meta(description="The deployable's name, in logs, metrics and `X-Served-By` (the launcher sets it).")
    ] = "omnigate"
    redis_url: Annotated[str, Meta(description="The state Redis: keys, streams, locks, leases.")] = (
        "redis://127.0.0.1:6379/0"
    )
    cache_redis_url: Annotated[
        str, Meta(description="A separate Redis for caches (evictable); empty means the state Redis.")
    ] = ""
    data_dir: Annotated[
        str,
        Meta(
            description="Where local state lives: the sandboxes' SQLite files (and, for `omnigate up`, logs and "
            "generated secrets)."
        ),
    ] = ".omnigate"
    key_prefix: Annotated[
        str,
        Meta(
            description="Every Redis key and stream name starts with this, so tests and several estates can share "
            "one Redis."
        ),
    ] = ""
    log_level: Annotated[str, Meta(description="Python logging level of the deployable's JSON logs.")] = "INFO"
    max_body_bytes: Annotated[
        int, Meta(description="Largest request body any deployable accepts; larger ones get 413 problem+json.")
    ] = 1_048_576

    redis_max_connections: Annotated[int, Meta(description="Redis connections per worker.")] = 256
    redis_pool_timeout_s: Annotated[
        float, Meta(description="How long a request waits for a free Redis connection rather than failing.")
    ] = 5.0
    redis_socket_timeout_s: Annotated[
        float,
        Meta(
            gt=1,
            le=60,
            description="How long a Redis connect, or a command's answer, may take before the state Redis counts as "
            "away (503 with Retry-After): a Redis that stops answering without closing its connections must not "
            "hold requests. Above the longest blocking read the kernel makes (event consumers block 1 s).",
        ),
    ] = 5.0

    # Outbound hops (shared.http).
    http_timeout_s: Annotated[float, Meta(description="Total time limit of one outbound hop (shared.http).")] = 5.0
    http_connect_timeout_s: Annotated[float, Meta(description="Connect time limit of one outbound hop.")] = 1.0
    breaker_fail_max: Annotated[
        int, Meta(description="Consecutive failures of an upstream (per worker) that open its circuit breaker.")
    ] = 5
    breaker_reset_s: Annotated[
        float, Meta(description="How long an open breaker refuses calls before it lets one through to try.")
    ] = 30.0
    retry_attempts: Annotated[
        int, Meta(description="Attempts of an idempotent hop (the first included) on a transient failure.")
    ] = 3
    retry_backoff_s: Annotated[
        float, Meta(description="Base of the random exponential backoff between retries (capped at 1 s).")
    ] = 0.05
    upstream_commit_limit_s: Annotated[
        float,
        Meta(
            description="The longest a back-end may still commit a request after a caller gave up on it: the "
            "back-end's own request time limit (Odoo's limit_time_real is 120 s by default). A create whose answer "
            "was lost has an unknown outcome until this has passed; the sandboxes drop requests they could not "
            "start within it."
        ),
    ] = 120.0

    urls: Annotated[
        dict[str, str],
        Meta(
            description="Base URL of each deployable this one calls, and of the back-ends (`OMNIGATE_URL_ERP`, "
            "`_WMS`, `_POS`: point these at real systems); the launcher and the chart set them."
        ),
    ] = msgspec.field(default_factory=dict)

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


S = TypeVar("S", bound=Settings)


def url_env_name(name: str) -> str:
    return URL_PREFIX + name.upper().replace("-", "_")


def env_name(field: str) -> str:
    """The environment variable of a settings field (``urls`` is a family: :func:`url_env_name`)."""
    if field == "urls":
        return URL_PREFIX + "<NAME>"
    return CONVENTIONAL_NAMES.get(field) or ENV_PREFIX + field.upper()


def from_env(cls: type[S], environ: Mapping[str, str] | None = None) -> S:
    """Read the struct ``cls`` (the kernel's or a deployable's) from the environment (``os.environ`` by default)."""
    env = os.environ if environ is None else environ
    fields = set(cls.__struct_fields__)
    raw: dict[str, object] = {}
    urls: dict[str, str] = {}
    for key, value in env.items():
        if key.startswith(URL_PREFIX):
            urls[key[len(URL_PREFIX) :].lower().replace("_", "-")] = value.rstrip("/")
        elif key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            if name in fields and name != "urls":
                raw[name] = value
    for field, name in CONVENTIONAL_NAMES.items():
        if name in env:
            raw[field] = env[name]
    raw["urls"] = urls
    try:
        return msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid Omnigate settings in the environment: {exc}") from exc


_read: dict[type[Settings], Settings] = {}


def get_settings(cls: type[S]) -> S:
    """The process's settings, read once: deployables are configured at start, not mid-flight."""
    found = _read.get(cls)
    if not isinstance(found, cls):
        found = _read[cls] = from_env(cls)
    return found
