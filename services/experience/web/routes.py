"""HTTP routes of ``experience-web`` (DESIGN §10): the experience kit's order routes under ``/web/v1``, in the web shop's
shapes (views.py). Every route takes the caller's verified identity and needs the ``web`` channel."""

from __future__ import annotations

from typing import Final

from services.experience.common.routes import order_routes
from services.experience.web.views import VIEWS
from shared.identity import Channel

CHANNEL: Final[Channel] = "web"
ROUTES = order_routes(CHANNEL, VIEWS)
