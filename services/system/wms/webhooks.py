"""ShipBob's webhooks: Standard Webhooks signatures checked on the raw bytes, then translated into canonical events
(``mapping.events_for``) and published once per event id.

ShipBob signs deliveries of subscriptions made through the dated API the Standard Webhooks way
(https://developer.shipbob.com/2026-01/webhooks, https://www.standardwebhooks.com): ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, several
during a secret rotation), keyed with the base64-decoded part of the subscription's ``whsec_`` secret; the topic
comes in ``x-webhook-topic``. Verification is the maintained ``standardwebhooks`` library's (timestamps more than
five minutes away are refused: a captured delivery cannot be replayed later). ShipBob retries a delivery that got
no 2xx (same ``webhook-id``) and does not keep topics in order, so the receiver dedupes by that id and the layer
above applies facts in any order.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from typing import Any

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.system.wms import mapping
from services.system.wms.connector import WmsConnector
from services.system.wms.settings import WmsSettings
from shared import context
from shared.events import EventBus
from shared.problems import ProblemError, invalid

log = logging.getLogger("omnigate.system.wms")
TOPIC_HEADER = "x-webhook-topic"
EXCEPTION_TOPIC = "order.shipment.exception"
ID_HEADER = "webhook-id"
MAX_HEADER = 1000


def signing_secret(secret: str) -> str:
    """The ``whsec_`` secret for a configured one, in the format ShipBob accepts for a subscription (``whsec_`` and
    32 base64 characters): a value already in it is used as is; any other is derived into one (``whsec_`` + base64
    of the first 24 bytes of its SHA-256; the launcher makes URL-safe random secrets). The same value is what
    system-wms passes when it subscribes, so ShipBob signs with exactly the key we verify with."""
    if secret.startswith("whsec_"):
        return secret
    return "whsec_" + base64.b64encode(hashlib.sha256(secret.encode()).digest()[:24]).decode()


def verify_signature(secret: str, body: bytes, headers: dict[str, str]) -> None:
    """Refuse (invalid-signature) a delivery whose Standard Webhooks headers do not sign ``body`` now."""
    if not secret:
        raise ProblemError("invalid-signature", "no WMS webhook secret is configured")
    wanted = {k: headers.get(k, "") for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    if not all(wanted.values()) or any(len(v) > MAX_HEADER for v in wanted.values()):
        raise ProblemError("invalid-signature", "missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        Webhook(signing_secret(secret)).verify(body, wanted, json_parse=False)
    except (WebhookVerificationError, ValueError, UnicodeDecodeError) as exc:
        raise ProblemError("invalid-signature", f"webhook-signature does not verify: {exc}") from None


class WebhookResult(msgspec.Struct, kw_only=True):
    webhook_id: str
    type: str
    published: list[str]
    duplicates: list[str]
    ignored: bool = False


@post("/webhooks/wms", summary="ShipBob webhooks (Standard Webhooks signatures) -> canonical events", status_code=200)
async def wms_webhook(
    request: Request[Any, Any, Any],
    bus: NamedDependency[EventBus],
    wms: NamedDependency[WmsConnector],
    settings: NamedDependency[WmsSettings],
) -> WebhookResult:
    """Verified on the raw bytes, then translated (mapping.events_for) and published once per event id."""
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    verify_signature(settings.wms_webhook_secret, body, headers)
    delivery_id, topic = headers[ID_HEADER], headers.get(TOPIC_HEADER, "")
    if not topic or len(topic) > 100 or len(delivery_id) > 200:
        raise invalid("x-webhook-topic is missing or too long")
    try:
        exception = mapping.exception_summary(body) if topic == EXCEPTION_TOPIC else None
        events = mapping.events_for(
            topic, delivery_id, body, await wms.locations(), correlation_id=context.request_id_var.get()
        )
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise invalid(f"invalid {topic} payload: {exc}") from None
    except ProblemError as exc:
        if exc.status != 502:
            raise
        events = mapping.events_for(
            topic, delivery_id, body, await wms.locations(refresh=True), correlation_id=context.request_id_var.get()
        )
    if exception is not None:
        # No canonical fact (DESIGN's fulfilment events have none): the order waits at the WMS, and an operator acts.
        log.warning("ShipBob webhook %s: %s", delivery_id, exception)
    elif not events:
        log.info("ignoring ShipBob webhook %s of topic %s", delivery_id, topic)
    if not events:
        return WebhookResult(webhook_id=delivery_id, type=topic, published=[], duplicates=[], ignored=True)
    published: list[str] = []
    duplicates: list[str] = []
    try:
        for domain, event in events:
            (published if await bus.publish(domain, event) else duplicates).append(event.id)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        # Not acknowledged, so ShipBob retries; the ids already published dedupe on the retry.
        raise ProblemError(
            "service-unavailable", f"event bus unavailable: {type(exc).__name__}", retry_after=5
        ) from exc
    return WebhookResult(webhook_id=delivery_id, type=topic, published=published, duplicates=duplicates)
