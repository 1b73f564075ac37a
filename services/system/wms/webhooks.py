"""The WMS's webhooks: signatures checked on the raw bytes (README of sandbox-wms, "Verifying webhooks"), then
translated into canonical events (mapping.events_for) and published once per event id.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.system.wms import mapping
from services.system.wms.settings import WmsSettings
from shared import context
from shared.events import EventBus
from shared.problems import ProblemError, invalid

log = logging.getLogger("omnigate.system.wms")
SIGNATURE_HEADER = "x-wms-signature"
SIGNATURE_TOLERANCE_S = 300


def verify_signature(
    secret: str, header: str | None, body: bytes, *, now: float | None = None, tolerance_s: int = SIGNATURE_TOLERANCE_S
) -> None:
    """Check ``t=<unix>,v1=<hex>`` (several ``v1`` allowed, as during a secret rotation) in constant time.

    The timestamp is inside the signed string, so a captured notification cannot be replayed after
    ``tolerance_s``; a missing secret refuses everything rather than accepting unsigned bodies.
    """
    if not secret:
        raise ProblemError("invalid-signature", "no WMS webhook secret is configured")
    if not header or len(header) > 1000:
        raise ProblemError("invalid-signature", "missing X-WMS-Signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise ProblemError("invalid-signature", "X-WMS-Signature must carry t=<unix> and v1=<hex>")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise ProblemError("invalid-signature", f"signature timestamp is more than {tolerance_s}s from now")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates):
        raise ProblemError("invalid-signature", "X-WMS-Signature does not match the body")


class WebhookResult(msgspec.Struct, kw_only=True):
    webhook_id: str
    type: str
    published: list[str]
    duplicates: list[str]
    ignored: bool = False


def decode(body: bytes, type_: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body, type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise invalid(f"invalid body: {exc}") from None


@post("/webhooks/wms", summary="WMS webhooks (X-WMS-Signature) -> canonical events", status_code=200)
async def wms_webhook(
    request: Request[Any, Any, Any], bus: NamedDependency[EventBus], settings: NamedDependency[WmsSettings]
) -> WebhookResult:
    """Verified on the raw bytes, then translated (mapping.events_for) and published once per event id."""
    body = await request.body()
    verify_signature(settings.wms_webhook_secret, request.headers.get(SIGNATURE_HEADER), body)
    envelope: mapping.WebhookEnvelope = decode(body, mapping.WebhookEnvelope)
    try:
        events = mapping.events_for(envelope, correlation_id=context.request_id_var.get())
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise invalid(f"invalid {envelope.type} data: {exc}") from None
    if not events:
        log.info("ignoring WMS webhook %s of type %s", envelope.id, envelope.type)
        return WebhookResult(webhook_id=envelope.id, type=envelope.type, published=[], duplicates=[], ignored=True)
    published: list[str] = []
    duplicates: list[str] = []
    try:
        for domain, event in events:
            (published if await bus.publish(domain, event) else duplicates).append(event.id)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        # Not acknowledged, so the WMS retries; the ids already published dedupe on the retry.
        raise ProblemError(
            "service-unavailable", f"event bus unavailable: {type(exc).__name__}", retry_after=5
        ) from exc
    return WebhookResult(webhook_id=envelope.id, type=envelope.type, published=published, duplicates=duplicates)
