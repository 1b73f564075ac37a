"""What experience-partner's handlers receive: the experience kit's collaborators (common/deps.py: the clients of
process-orders and process-availability, the channel, the page size, and the ``allowed`` guard). Partner adds none
of its own yet."""

from __future__ import annotations

from services.experience.common.deps import DEPENDENCIES, WIRING, Parts

__all__ = ["DEPENDENCIES", "WIRING", "Parts"]
