"""sandbox-erp's settings: the sandboxes' common ones, plus the credentials it accepts (as Odoo checks them)."""

from __future__ import annotations

from services.sandbox.common.settings import SandboxSettings
from services.system.erp.settings import ErpApiKey, ErpDatabase


class SandboxErpSettings(SandboxSettings, kw_only=True, frozen=True):
    erp_api_key: ErpApiKey = ""
    erp_database: ErpDatabase = "omnigate"
