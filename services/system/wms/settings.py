"""system-wms's settings: the kernel's, plus the WMS credentials it presents and the webhooks it verifies."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from shared.settings import Settings

# The credentials this system API and the back-end it calls (its sandbox, or the real system) agree on: one
# declaration, read by both from the same environment variables.
WmsApiKey = Annotated[
    str,
    Meta(
        description="The WMS API key (`X-Api-Key`): system-wms presents it, sandbox-wms accepts only it. The "
        "launcher generates it at first run; the chart reads it from the Secret."
    ),
]
WmsWebhookSecret = Annotated[
    str, Meta(description="The secret the WMS signs its webhooks with; a secret like the key.")
]


class WmsSettings(Settings, kw_only=True, frozen=True):
    wms_api_key: WmsApiKey = ""
    wms_webhook_secret: WmsWebhookSecret = ""
