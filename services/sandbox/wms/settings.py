"""sandbox-wms's settings: the sandboxes' common ones, plus the personal access token it accepts.

Webhooks go where subscriptions (``POST /2026-01/webhook``, made by system-wms at start) say, signed with each
subscription's own secret, as ShipBob does; the sandbox needs no webhook settings of its own.
"""

from __future__ import annotations

from services.sandbox.common.settings import SandboxSettings
from services.system.wms.settings import WmsAccessToken


class SandboxWmsSettings(SandboxSettings, kw_only=True, frozen=True):
    wms_access_token: WmsAccessToken = ""
