"""system-pos's settings: the kernel's, plus the Square credentials it presents and the webhooks it verifies."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from shared.settings import Settings

# The credentials this system API and the back-end it calls (its sandbox, or the real system) agree on: one
# declaration, read by both from the same environment variables.
PosAccessToken = Annotated[
    str,
    Meta(
        description="The POS access token (Square bearer token): system-pos presents it, sandbox-pos accepts "
        "only it. The launcher generates it at first run; the chart reads it from the Secret."
    ),
]
PosWebhookSignatureKey = Annotated[
    str,
    Meta(
        description="The key Square signs its webhooks with (`x-square-hmacsha256-signature`); a secret like the token."
    ),
]
PosWebhookUrl = Annotated[
    str,
    Meta(
        description="The URL the POS notifies, exactly as registered with it (Square signs the URL with the "
        "body): system-pos's `/webhooks/pos`."
    ),
]


class PosSettings(Settings, kw_only=True, frozen=True):
    pos_access_token: PosAccessToken = ""
    pos_webhook_signature_key: PosWebhookSignatureKey = ""
    pos_webhook_url: PosWebhookUrl = ""
