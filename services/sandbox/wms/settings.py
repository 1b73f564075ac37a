"""sandbox-wms's settings: the sandboxes' common ones, plus the key it accepts and the webhooks it sends."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from services.sandbox.common.settings import SandboxSettings
from services.system.wms.settings import WmsApiKey, WmsWebhookSecret


class SandboxWmsSettings(SandboxSettings, kw_only=True, frozen=True):
    wms_api_key: WmsApiKey = ""
    wms_webhook_secret: WmsWebhookSecret = ""
    wms_webhook_url: Annotated[
        str, Meta(description="Where the WMS sends its webhooks: system-wms's `/webhooks/wms` (empty: none sent).")
    ] = ""
