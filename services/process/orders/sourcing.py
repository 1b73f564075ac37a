"""Where an order's lines are fulfilled from (DESIGN §4): pure decisions over an ATP snapshot.

Ship orders go to the DC with the most ATP for the whole basket, so one parcel leaves one building; a
basket no single DC can serve is split over DCs only when the channel allows partial shipment (each line
whole, to the DC with the most of it left). Pickup is the chosen store or nothing. The reservation that
follows is the real check: this snapshot may already be stale, and the reservation script is atomic.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from shared.models.orders import OrderLineRequest

Atp = dict[str, dict[str, int]]  # sku -> location -> available


@dataclass(frozen=True, slots=True)
class Placement:
    location: str
    line_ids: list[str]


class Shortage(Exception):
    """No placement serves the basket; ``errors`` name each short line (the insufficient-stock shape)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} line(s) cannot be served")
        self.errors = errors


def _short_lines(lines: list[OrderLineRequest], atp: Atp, location: str | None) -> list[dict[str, Any]]:
    needed = Counter[str]()
    for line in lines:
        needed[line.sku] += line.qty
    errors = []
    for line in lines:
        available = atp.get(line.sku, {}).get(location, 0) if location else 0
        if available < needed[line.sku]:
            errors.append(
                {
                    "line_id": line.line_id,
                    "sku": line.sku,
                    "location": location,
                    "requested": line.qty,
                    "available": available,
                }
            )
    return errors


def for_pickup(lines: list[OrderLineRequest], atp: Atp, store: str) -> list[Placement]:
    errors = _short_lines(lines, atp, store)
    if errors:
        raise Shortage(errors)
    return [Placement(store, [line.line_id for line in lines])]


def for_ship(lines: list[OrderLineRequest], atp: Atp, dcs: list[str], *, allow_partial: bool) -> list[Placement]:
    needed = Counter[str]()
    for line in lines:
        needed[line.sku] += line.qty
    dcs = sorted(dcs)

    def total(dc: str) -> int:
        return sum(atp.get(sku, {}).get(dc, 0) for sku in needed)

    whole = [dc for dc in dcs if all(atp.get(sku, {}).get(dc, 0) >= qty for sku, qty in needed.items())]
    if whole:
        best = max(whole, key=lambda dc: (total(dc), -dcs.index(dc)))
        return [Placement(best, [line.line_id for line in lines])]
    best_effort = max(dcs, key=lambda dc: (total(dc), -dcs.index(dc))) if dcs else None
    if not allow_partial:
        raise Shortage(_short_lines(lines, atp, best_effort))
    left = {sku: dict(atp.get(sku, {})) for sku in needed}
    chosen: dict[str, list[str]] = {}
    errors = []
    for line in lines:
        candidates = [dc for dc in dcs if left[line.sku].get(dc, 0) >= line.qty]
        if not candidates:
            most = max(dcs, key=lambda dc: left[line.sku].get(dc, 0)) if dcs else None
            errors.append(
                {
                    "line_id": line.line_id,
                    "sku": line.sku,
                    "location": most,
                    "requested": line.qty,
                    "available": left[line.sku].get(most, 0) if most else 0,
                }
            )
            continue
        dc = max(candidates, key=lambda d: (left[line.sku][d], -dcs.index(d)))
        left[line.sku][dc] -= line.qty
        chosen.setdefault(dc, []).append(line.line_id)
    if errors:
        raise Shortage(errors)
    return [Placement(dc, ids) for dc, ids in sorted(chosen.items())]
