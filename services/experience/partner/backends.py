"""The typed clients experience-partner calls the layer below with: process-orders' (common/backends.py), carrying the
caller's own identity token. Its catalogue and availability reads (process-availability, system-erp) come with
those views."""

from __future__ import annotations

from services.experience.common.backends import OrdersClient, Refused

__all__ = ["OrdersClient", "Refused"]
