"""What experience-mobile's handlers receive: the experience kit's collaborators (common/deps.py: the clients of
process-orders, process-availability and system-erp, the channel, the page size, and the ``allowed`` guard) and
the kernel's ``settings`` (its :class:`MobileSettings`). Mobile adds none of its own yet."""

from __future__ import annotations

from services.experience.common.deps import DEPENDENCIES, WIRING, Parts

__all__ = ["DEPENDENCIES", "WIRING", "Parts"]
