"""system-wms's settings: the kernel's, plus the ShipBob account it works with and how it hears from it.

Pointing system-wms at a real ShipBob sandbox account (https://developer.shipbob.com/sandbox): set
``OMNIGATE_URL_WMS=https://sandbox-api.shipbob.com`` (production: ``https://api.shipbob.com``), the account's
personal access token in ``OMNIGATE_WMS_ACCESS_TOKEN``, optionally the channel in ``OMNIGATE_WMS_CHANNEL_ID`` (else the
first channel the token can write orders with, from ``GET /2026-01/channel``), the public URL ShipBob should post
webhooks to in ``OMNIGATE_WMS_WEBHOOK_URL`` (the gateway's ``/webhooks/wms``; ShipBob requires https) and a
``whsec_`` signing secret in ``OMNIGATE_WMS_WEBHOOK_SECRET``. The API version is pinned in code (``2026-01``).
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from shared.settings import Settings

# The credentials this system API and the back-end it calls (its sandbox, or ShipBob) agree on: one declaration,
# read by both from the same environment variables.
WmsAccessToken = Annotated[
    str,
    Meta(
        description="The ShipBob personal access token (`Authorization: Bearer`): system-wms presents it, "
        "sandbox-wms accepts only it. The launcher generates it at first run; the chart reads it from the Secret."
    ),
]
# ShipBob's format for a subscription's signing secret (``POST /2026-01/webhook``, ``secret``): ``whsec_`` and 32
# base64 characters (24 bytes), https://developer.shipbob.com/api/webhooks/create-subscription.
WHSEC_PATTERN = r"^whsec_[A-Za-z0-9+/]{32}$"
WmsWebhookSecret = Annotated[
    str,
    Meta(
        # Empty, a secret in ShipBob's format, or any other text (not starting with whsec_) to derive one from.
        pattern=rf"^$|{WHSEC_PATTERN}|^(?!whsec_).{{16,}}$",
        description="The secret ShipBob signs webhooks with (Standard Webhooks): system-wms passes it when it "
        "subscribes. A value in ShipBob's format (`whsec_` and 32 base64 characters) is used as is; any other "
        "value of 16 characters or more derives one (`whsec_` + base64 of the first 24 bytes of its SHA-256).",
    ),
]


class WmsSettings(Settings, kw_only=True, frozen=True):
    wms_access_token: WmsAccessToken = ""
    wms_webhook_secret: WmsWebhookSecret = ""
    wms_webhook_url: Annotated[
        str,
        Meta(
            description="The public URL system-wms subscribes ShipBob's webhooks to (the gateway's "
            "`/webhooks/wms`); empty: no subscription is made."
        ),
    ] = ""
    wms_channel_id: Annotated[
        int,
        Meta(
            ge=0,
            description="The ShipBob channel orders and returns are created in (`shipbob_channel_id`); 0: "
            "the first channel with the `orders_write` scope.",
        ),
    ] = 0
    wms_shipping_method: Annotated[
        str, Meta(min_length=1, max_length=100, description="The `shipping_method` new orders carry.")
    ] = "Standard"
    wms_inventory_poll_s: Annotated[
        float,
        Meta(gt=0, le=3600, description="How often (seconds) the leased poll reads ShipBob's inventory history."),
    ] = 60.0
