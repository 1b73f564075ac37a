"""sandbox-wms's settings: the sandboxes' common ones, plus the key it accepts and the webhooks it sends."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from services.sandbox.common.settings import SandboxSettings


class SandboxWmsSettings(SandboxSettings, kw_only=True, frozen=True):
    wms_api_key: Annotated[
        str,
        Meta(
            description="The WMS API key (`X-Api-Key`): system-wms presents it, sandbox-wms accepts only it. The "
            "launcher generates it at first run; the chart reads it from the Secret."
        ),
    ] = ""
    wms_webhook_secret: Annotated[
        str, Meta(description="The secret the WMS signs its webhooks with; a secret like the key.")
    ] = ""
    wms_webhook_url: Annotated[
        str, Meta(description="Where the WMS sends its webhooks: system-wms's `/webhooks/wms` (empty: none sent).")
    ] = ""
