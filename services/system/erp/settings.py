"""system-erp's settings: the kernel's, plus the ERP credentials it presents and its price feed's pace."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from shared.settings import Settings

# The credentials this system API and the back-end it calls (its sandbox, or the real system) agree on: one
# declaration, read by both from the same environment variables.
ErpApiKey = Annotated[
    str,
    Meta(
        description="The ERP's API key (Odoo bearer key): system-erp presents it, sandbox-erp accepts only it. "
        "The launcher generates it at first run; the chart reads it from the Secret."
    ),
]
ErpDatabase = Annotated[str, Meta(description="The Odoo database the ERP calls address (`X-Odoo-Database`).")]


class ErpSettings(Settings, kw_only=True, frozen=True):
    erp_api_key: ErpApiKey = ""
    erp_database: ErpDatabase = "omnigate"
    erp_price_poll_s: Annotated[
        float,
        Meta(
            description="Odoo has no webhooks: system-erp polls for changed prices this often and publishes them "
            "as events (0 turns the feed off; consumers then rely on scheduled full syncs)."
        ),
    ] = 30.0
