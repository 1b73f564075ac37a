"""Examples in the public contracts (estate/public_contracts.py puts each list on the schema of its name, as JSON
Schema 2020-12 ``examples``, which OpenAPI 3.1 renders and schemathesis sends in its examples phase).

They follow the shapes the channels really answer (ids, SKUs and locations as the seeded estate makes them) and a
test validates every one against its schema in each document (tests/unit/test_public_contracts.py), so an example
can never drift from the contract it illustrates.
"""

from __future__ import annotations

from typing import Any

_ADDRESS = {"name": "Anna de Vries", "line1": "Keizersgracht 174", "postal_code": "1016 DW", "city": "Amsterdam"}
_SKU = "OG-1000-BLK-XS-000000"
_STORE = "store-kfr9qs7nff0n5"
_ORDER = "o7613e58aafa54b4b3f5a"
_RETURN = "r1c2d3e4f5a6b7c8d9e0f"
_AT = "2026-11-30T14:05:12.480Z"
_LATER = "2026-12-01T09:41:03.112Z"
_TRACKING = {
    "carrier": "PostNL",
    "tracking_number": "3SOGX0000412",
    "shipped_at": _LATER,
    "url": "https://jouw.postnl.nl/track-and-trace/3SOGX0000412-NL-1016DW",
}

_ORDER_REQUEST_SHIP = {
    "customer": {"id": "c-1042", "name": "Anna de Vries", "email": "anna@example.com"},
    "fulfilment": {"mode": "ship", "ship_to": {**_ADDRESS, "country": "NL"}},
    "lines": [{"line_id": "1", "sku": _SKU, "qty": 2}],
    "currency": "EUR",
    "payment_reference": "pi_3QxPayment0001",
}
_ORDER_REQUEST_PICKUP = {
    "customer": {"id": "c-1042", "name": "Anna de Vries"},
    "fulfilment": {"mode": "pickup", "store": _STORE},
    "lines": [{"line_id": "1", "sku": _SKU, "qty": 1}],
    "currency": "EUR",
    "payment_reference": "pi_3QxPayment0002",
}

EXAMPLES: dict[str, list[Any]] = {
    # --- requests ---------------------------------------------------------------------------------------------
    "OrderRequest": [_ORDER_REQUEST_SHIP, _ORDER_REQUEST_PICKUP],
    "ReturnRequest": [{"lines": [{"line_id": "1", "qty": 1}], "location": "dc-tlb", "reason": "too small"}],
    "CancelRequest": [{"reason": "ordered twice"}],
    # --- answers ----------------------------------------------------------------------------------------------
    "WebOrder": [
        {
            "id": _ORDER,
            "state": "shipped",
            "customer": {"id": "c-1042", "name": "Anna de Vries", "email": "anna@example.com"},
            "fulfilment": {"mode": "ship", "ship_to": {**_ADDRESS, "country": "NL"}, "allow_partial": False},
            "lines": [{"line_id": "1", "sku": _SKU, "qty": 2, "unit_price": 2495, "location": "dc-tlb"}],
            "currency": "EUR",
            "subtotal": 4124,
            "tax": 866,
            "total": 4990,
            "payment_reference": "pi_3QxPayment0001",
            "tracking": [_TRACKING],
            "links": {
                "order": f"/web/v1/orders/{_ORDER}",
                "timeline": f"/web/v1/orders/{_ORDER}/timeline",
                "cancel": f"/web/v1/orders/{_ORDER}/cancel",
            },
            "created_at": _AT,
            "updated_at": _LATER,
        }
    ],
    "WebProduct": [
        {
            "sku": _SKU,
            "name": "Merino crew neck, black, XS",
            "active": True,
            "barcode": "8712345000007",
            "category": "Knitwear",
            "uom": "unit",
            "weight_grams": 320,
            "price": {"status": "priced", "amount": 2495, "currency": "EUR", "tax_included": True, "as_of": _AT},
            "availability": {
                "status": "in_stock",
                "ship_to_home": {"available": 37, "incoming": 12, "as_of": _LATER},
                "pickup": {
                    "stores_with_stock": 4,
                    "stores": [
                        {
                            "store": _STORE,
                            "name": "Omnigate Amsterdam Centrum",
                            "city": "Amsterdam",
                            "distance_km": 1.8,
                            "available": 3,
                        }
                    ],
                },
            },
        }
    ],
    "ShownReturn": [
        {
            "id": _RETURN,
            "order_id": _ORDER,
            "state": "return_requested",
            "location": "dc-tlb",
            "lines": [{"sku": _SKU, "qty": 1, "unit_price": 2495}],
            "received": None,
            "created_at": _LATER,
            "updated_at": _LATER,
        }
    ],
    "MobileOrder": [
        {
            "id": _ORDER,
            "status": "shipped",
            "summary": "Merino crew neck, black, XS ×2",
            "line_count": 1,
            "currency": "EUR",
            "total": 4990,
            "created_at": _AT,
        }
    ],
    "MobileProduct": [
        {
            "sku": _SKU,
            "name": "Merino crew neck, black, XS",
            "status": "in_stock",
            "count": 37,
            "price": {"amount": 2495, "currency": "EUR"},
            "nearest_store": {"id": _STORE, "name": "Omnigate Amsterdam Centrum", "distance_km": 1.8, "available": 3},
        }
    ],
    "PartnerOrder": [
        {
            "id": _ORDER,
            "status": "confirmed",
            "customer_id": "c-1042",
            "fulfilment": "ship",
            "store": None,
            "lines": [{"line_id": "1", "sku": _SKU, "qty": 2, "unit_price": 2495, "location": "dc-tlb"}],
            "currency": "EUR",
            "subtotal": 4124,
            "tax": 866,
            "total": 4990,
            "payment_reference": "pi_3QxPayment0001",
            "tracking": [],
            "created_at": _AT,
            "updated_at": _AT,
        }
    ],
    "PartnerAvailability": [
        {
            "items": [
                {
                    "sku": _SKU,
                    "status": "known",
                    "price": {"amount": 2495, "currency": "EUR", "tax_included": True, "as_of": _AT},
                    "ship_to_home": {"available": 37, "incoming": 12, "as_of": _LATER},
                    "locations": [
                        {"location": "dc-tlb", "available": 34, "incoming": 12, "as_of": _LATER},
                        {"location": _STORE, "available": 3, "incoming": 0, "as_of": _AT},
                    ],
                }
            ],
            "staleness_ms": 180,
        }
    ],
    "PartnerReturn": [
        {
            "id": _RETURN,
            "order_id": _ORDER,
            "status": "return_received",
            "location": "dc-tlb",
            "lines": [{"sku": _SKU, "qty": 1, "unit_price": 2495}],
            "received": [{"sku": _SKU, "qty": 1}],
            "created_at": _LATER,
            "updated_at": _LATER,
        }
    ],
    "Problem": [
        {
            "type": "https://omnigate.dev/problems/insufficient-stock",
            "title": "Not enough stock",
            "status": 409,
            "detail": f"only 1 of {_SKU} can be promised from the chosen locations",
            "instance": "/web/v1/orders",
            "request_id": "8893ced40ed674b65072b895",
        }
    ],
}
