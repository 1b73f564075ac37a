"""The typed clients experience-partner calls the layer below with (common/backends.py), each carrying the caller's
own identity token: process-orders' for orders and returns, process-availability's for bulk availability."""

from __future__ import annotations

from services.experience.common.backends import AvailabilityClient, OrdersClient, Refused

__all__ = ["AvailabilityClient", "OrdersClient", "Refused"]
