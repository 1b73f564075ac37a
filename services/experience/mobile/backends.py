"""The typed clients experience-mobile calls the layer below with (common/backends.py), each carrying the caller's
own identity token: process-orders' for orders, process-availability's and system-erp's for products."""

from __future__ import annotations

from services.experience.common.backends import AvailabilityClient, CatalogClient, OrdersClient, Refused

__all__ = ["AvailabilityClient", "CatalogClient", "OrdersClient", "Refused"]
