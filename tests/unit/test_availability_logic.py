"""Pure logic of process-availability: ATP arithmetic from projection fields, the postal-code seam."""

from __future__ import annotations

from services.process.availability.atp import positions, sku_availability
from services.process.availability.stores import centroid, distance_km
from shared.models.inventory import Location


def _store(sid: str, postal: str, lat: float, lon: float, ships: bool = False) -> Location:
    return Location(
        id=sid,
        type="store",
        name=sid,
        country="NL",
        postal_code=postal,
        latitude=lat,
        longitude=lon,
        ship_from_store=ships,
        pickup=True,
        source="pos",
        source_id=sid.upper(),
    )


def _fields(**terms: int) -> dict[bytes, bytes]:
    out = {}
    for name, value in terms.items():
        loc, term = name.rsplit("__", 1)
        out[f"{loc.replace('_', '-')}|{term}".encode()] = str(value).encode()
    return out


def test_atp_is_on_hand_minus_reserved_minus_safety_stock_never_negative() -> None:
    fields = _fields(
        dc_tlb__oh=10,
        dc_tlb__rs=3,
        dc_tlb__ss=2,
        dc_tlb__it=5,
        dc_tlb__t=1000,
        store_a__oh=1,
        store_a__rs=4,
        store_a__t=2000,
        store_b__oh=6,
        store_b__t=3000,
        store_c__rs=1,
        store_c__rt=10,
    )
    held = positions(fields)
    assert held["dc-tlb"].available == 5 and held["store-a"].available == 0
    assert "store-c" not in held  # reserved against but never counted: not a stocked location
    locations = {
        "store-a": _store("store-a", "1012 AA", 52.0, 4.0),
        "store-b": _store("store-b", "3511 AB", 52.1, 5.1, ships=True),
    }
    result = sku_availability("SKU-1", fields, locations, staleness_ms=7, explain=True)
    assert result is not None
    # Ship-to-home is what a ship order can take: the DC's units. store-b is marked ship-from-store, but ship orders
    # are fulfilled from DCs only, so its 6 units are promised for pickup there, not for delivery.
    assert result.ship.available == 5 and result.ship.incoming == 5
    assert [t.name for t in result.ship.explain or []] == ["dc-tlb.available"]
    assert [a.location for a in result.locations] == ["dc-tlb", "store-a", "store-b"]
    dc = result.locations[0]
    assert {t.name: t.value for t in dc.explain or []} == {
        "on_hand": 10,
        "reserved": 3,
        "safety_stock": 2,
        "in_transit": 5,
    }
    assert all(a.staleness_ms == 7 for a in result.locations)
    assert sku_availability("SKU-1", {}, locations, staleness_ms=0) is None


def test_postal_codes_land_among_the_stores_sharing_the_longest_prefix() -> None:
    stores = [
        _store("store-u", "3511 AB", 52.09, 5.12),
        _store("store-u2", "3512 CD", 52.10, 5.13),
        _store("store-a", "1012 AA", 52.37, 4.89),
    ]
    assert centroid("3511 XY", stores) == (52.09, 5.12)
    lat, lon = centroid("3519", stores)  # type: ignore[misc]
    assert abs(lat - 52.095) < 1e-9 and abs(lon - 5.125) < 1e-9
    assert centroid("1000", stores) == (52.37, 4.89)
    assert centroid("9999", stores) is None
    assert 30 < distance_km((52.09, 5.12), (52.37, 4.89)) < 40  # Utrecht - Amsterdam
