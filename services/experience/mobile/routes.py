"""HTTP routes of ``experience-mobile`` (DESIGN §10): the experience kit's order routes under ``/mobile/v1``, in the mobile apps's
shapes (views.py). Every route takes the caller's verified identity and needs the ``mobile`` channel."""

from __future__ import annotations

from typing import Final

from services.experience.common.routes import order_routes
from services.experience.mobile.views import VIEWS
from shared.identity import Channel

CHANNEL: Final[Channel] = "mobile"
ROUTES = order_routes(CHANNEL, VIEWS)
