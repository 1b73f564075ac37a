"""sandbox-erp's settings: the sandboxes' common ones, plus the credentials it accepts (as Odoo checks them)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from services.sandbox.common.settings import SandboxSettings


class SandboxErpSettings(SandboxSettings, kw_only=True, frozen=True):
    erp_api_key: Annotated[
        str,
        Meta(
            description="The ERP's API key (Odoo bearer key): system-erp presents it, sandbox-erp accepts only it. "
            "The launcher generates it at first run; the chart reads it from the Secret."
        ),
    ] = ""
    erp_database: Annotated[str, Meta(description="The Odoo database the ERP calls address (`X-Odoo-Database`).")] = (
        "omnigate"
    )
