"""What the experience APIs' settings share: the type of a channel's page size of order listings.

Each channel's ``settings.py`` names its own variable (``OMNIGATE_<CHANNEL>_ORDERS_PAGE_SIZE``) with the default its
clients want - a phone shows fewer rows than a web page, a partner's batch job pages through more - because one
variable means one thing across the estate (README's generated table)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta


def page_size(channel: str) -> Meta:
    return Meta(
        ge=1, le=100, description=f"Orders per page of `GET /{channel}/v1/orders` (1-100: process-orders' cap)."
    )


WebPageSize = Annotated[int, page_size("web")]
MobilePageSize = Annotated[int, page_size("mobile")]
PartnerPageSize = Annotated[int, page_size("partner")]
