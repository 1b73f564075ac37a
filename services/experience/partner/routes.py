"""HTTP routes of ``experience-partner`` (DESIGN §10): the experience kit's order routes under ``/partner/v1``, in the partners'
shapes (views.py). Every route takes the caller's verified identity and needs the ``partner`` channel."""

from __future__ import annotations

from typing import Final

from services.experience.common.routes import order_routes
from services.experience.partner.views import VIEWS
from shared.identity import Channel

CHANNEL: Final[Channel] = "partner"
ROUTES = order_routes(CHANNEL, VIEWS)
