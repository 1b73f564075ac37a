"""process-availability's settings: the kernel's, plus the pace of its background rounds and its ATP policy."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from shared.settings import Settings


class AvailabilitySettings(Settings, kw_only=True, frozen=True):
    # Background rounds, each under a lease.
    availability_price_sync_s: Annotated[
        float, Meta(description="How often the price projection is synced in full from system-erp.")
    ] = 300.0
    availability_reconcile_s: Annotated[
        float, Meta(description="How often the stock projection is reconciled against the WMS and the POS.")
    ] = 3600.0
    availability_expiry_sweep_s: Annotated[
        float, Meta(description="How often expired reservation leases are released.")
    ] = 1.0
    availability_relay_s: Annotated[
        float,
        Meta(
            description="How often the outbox relay publishes its events (`availability.changed`, `reservation.expired`, `price.applied`)."
        ),
    ] = 0.1
    # ATP policy.
    availability_dc_safety_stock: Annotated[
        int, Meta(description="Units held back from available-to-promise at every DC.")
    ] = 0
    availability_store_safety_stock: Annotated[
        int, Meta(description="Units held back from available-to-promise at every store.")
    ] = 0
