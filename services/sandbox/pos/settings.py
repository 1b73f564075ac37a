"""sandbox-pos's settings: the sandboxes' common ones, plus the token it accepts and the webhooks it sends."""

from __future__ import annotations

from services.sandbox.common.settings import SandboxSettings
from services.system.pos.settings import PosAccessToken, PosWebhookSignatureKey, PosWebhookUrl


class SandboxPosSettings(SandboxSettings, kw_only=True, frozen=True):
    pos_access_token: PosAccessToken = ""
    pos_webhook_signature_key: PosWebhookSignatureKey = ""
    pos_webhook_url: PosWebhookUrl = ""
