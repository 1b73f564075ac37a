"""sandbox-pos's settings: the sandboxes' common ones, plus the token it accepts and the webhooks it sends."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from services.sandbox.common.settings import SandboxSettings


class SandboxPosSettings(SandboxSettings, kw_only=True, frozen=True):
    pos_access_token: Annotated[
        str,
        Meta(
            description="The POS access token (Square bearer token): system-pos presents it, sandbox-pos accepts "
            "only it. The launcher generates it at first run; the chart reads it from the Secret."
        ),
    ] = ""
    pos_webhook_signature_key: Annotated[
        str,
        Meta(
            description="The key Square signs its webhooks with (`x-square-hmacsha256-signature`); a secret like "
            "the token."
        ),
    ] = ""
    pos_webhook_url: Annotated[
        str,
        Meta(
            description="The URL the POS notifies, exactly as registered with it (Square signs the URL with the "
            "body): system-pos's `/webhooks/pos`."
        ),
    ] = ""
