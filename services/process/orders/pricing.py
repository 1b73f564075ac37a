"""Order totals and tax from a per-country rate table.

Prices in the projection are consumer prices with tax included (the ERP's list price), so the tax of an
order is the part of its total the rate accounts for, rounded once per order (not per line, which would
drift by a cent per line). A real tax engine (exemptions, reduced rates per product class, thresholds) is a
seam: :func:`tax_rate` is the one place that would call it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.problems import ProblemError

# Standard VAT rates in percent; the seam for a tax engine is tax_rate().
RATES: dict[str, int] = {"NL": 21, "BE": 21, "DE": 19, "FR": 20}


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: int
    tax: int
    total: int


def tax_rate(country: str) -> int:
    """The standard rate for the destination country; an unknown country is an order we cannot tax."""
    try:
        return RATES[country]
    except KeyError:
        raise ProblemError(
            "unprocessable",
            f"no tax rate for country {country}; this estate sells to {', '.join(sorted(RATES))}",
            errors=[{"field": "country", "value": country}],
        ) from None


def totals(amounts: list[tuple[int, int]], country: str, *, tax_included: bool = True) -> Totals:
    """``amounts`` is (unit price in minor units, qty) per line. With ``tax_included`` the prices already
    contain VAT: tax = total - total / (1 + rate), rounded half up to the minor unit."""
    rate = tax_rate(country)
    subtotal = sum(unit * qty for unit, qty in amounts)
    if tax_included:
        net = (subtotal * 100 * 2 + (100 + rate)) // (2 * (100 + rate))
        tax = subtotal - net
        return Totals(subtotal=subtotal, tax=tax, total=subtotal)
    tax = (subtotal * rate * 2 + 100) // 200
    return Totals(subtotal=subtotal, tax=tax, total=subtotal + tax)
