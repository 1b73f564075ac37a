"""process-orders' settings: the kernel's, plus its per-order lock, saga retries (backoff), idempotency records,
reservations and background rounds."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from shared.settings import Settings


class OrdersSettings(Settings, kw_only=True, frozen=True):
    orders_lock_ttl_s: Annotated[
        float, Meta(description="Lease of the per-order lock that serialises an order's saga steps.")
    ] = 10.0
    orders_retry_poll_s: Annotated[
        float, Meta(description="How often the retry worker looks for due and stranded sagas.")
    ] = 0.5
    orders_retry_base_s: Annotated[
        float, Meta(description="First delay of a saga step's retry; it doubles with every attempt.")
    ] = 1.0
    orders_retry_max_s: Annotated[float, Meta(description="Longest delay between a saga step's retries.")] = 60.0
    orders_retry_concurrency: Annotated[int, Meta(description="Sagas one worker resumes at the same time.")] = 16
    orders_idempotency_ttl_s: Annotated[
        int, Meta(description="How long an `Idempotency-Key`'s first answer is kept and replayed.")
    ] = 86_400
    orders_inflight_s: Annotated[
        float,
        Meta(
            description="Lease of a request in flight under an `Idempotency-Key` (renewed while it runs); a "
            "replay after it lapsed resumes what the dead attempt started."
        ),
    ] = 30.0
    orders_reservation_ttl_s: Annotated[
        int,
        Meta(description="Lease of the stock held for an order at process-availability until the order is accepted."),
    ] = 900
    orders_relay_s: Annotated[
        float, Meta(description="How often the outbox relay publishes `orders` and `returns` lifecycle events.")
    ] = 0.2
    orders_stores_refresh_s: Annotated[
        float,
        Meta(description="How long the cached list of the POS's stores (pickup validation) is used before a refresh."),
    ] = 300.0
    orders_claim_idle_s: Annotated[
        float,
        Meta(
            description="How long a fulfilment fact may stay unacknowledged with a consumer before another takes "
            "it over (facts the order is not ready for are parked and acknowledged, never left to redelivery)."
        ),
    ] = 5.0
    orders_return_close_days: Annotated[
        float,
        Meta(
            description="A return of which the DC received only part closes (reported) this long after it was requested."
        ),
    ] = 14.0
    orders_list_scan: Annotated[
        int,
        Meta(
            ge=1,
            le=10_000,
            description="Most orders one page of a filtered `GET /orders` (by status or time) looks at; a page "
            "that ran out holds fewer orders and a cursor to go on from.",
        ),
    ] = 1000
    orders_sweep_s: Annotated[
        float,
        Meta(description="How often the document sweep runs on its own, under a lease (0 = only on demand)."),
    ] = 3600.0
    orders_sweep_days: Annotated[
        float, Meta(description="How far back the document sweep looks: orders created in the last N days.")
    ] = 7.0
