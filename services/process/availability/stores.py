"""Locations the projection knows (stores from the POS, DCs from the WMS) and where a postal code lies.

**Postal code -> coordinates is a seam.** A geocoder (PDOK Locatieserver, Google Geocoding...) is the real
answer; until one is configured, a postal code is placed at the centroid of the stores whose own postal codes
share the longest prefix with it. Postal codes are hierarchical in most countries (NL: the first digit is
the region, four digits the district), so ``3512 AB`` lands among the ``351x`` stores of Utrecht. A postal code
sharing not even its first character with any store's cannot be placed: 422.
"""

from __future__ import annotations

import math
import os
import re
import time

import msgspec
from redis.asyncio import Redis

from services.process.availability.keys import Keys
from shared import replies
from shared.models.inventory import Location

_decoder = msgspec.json.Decoder(Location)
_encoder = msgspec.json.Encoder()
POSTAL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{1,11}$")
EARTH_KM = 6371.0


def ships(location: Location) -> bool:
    """Whether the location's stock counts in ship-to-home ATP: the DCs. A store the POS marks ship-from-store
    does not count (yet): ship orders are fulfilled from DCs only (process-orders' sourcing), and ship-to-home
    promises only what a ship order can take; a store's units showed ``in_stock`` that every ship order was then
    refused (409). This is the one switch for the day stores fulfil ship orders (DESIGN §4 says "and
    ship-from-store stores where enabled": not enabled, as nothing fulfils them)."""
    return location.type == "dc"


def dc_location(location_id: str) -> Location:
    code = location_id[3:].upper()
    return Location(id=location_id, type="dc", name=f"DC {code}", country="NL", source="wms", source_id=code)


class Locations:
    """Every worker reads locations from Redis and keeps them a few seconds (a cache: replicas agree via Redis)."""

    def __init__(self, redis: Redis, keys: Keys, ttl_s: float = 5.0) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = ttl_s
        self._cache: dict[str, Location] = {}
        self._loaded_at = -math.inf

    async def all(self) -> dict[str, Location]:
        if time.monotonic() - self._loaded_at > self.ttl_s:
            raw = await self.redis.hgetall(self.keys.locations)
            self._cache = {replies.text(k): _decoder.decode(v) for k, v in raw.items()}
            self._loaded_at = time.monotonic()
        return self._cache

    async def replace(self, locations: list[Location]) -> None:
        """Record the current locations and which stores ship (read by the Lua scripts)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.locations, self.keys.ship_locations)
            if locations:
                pipe.hset(self.keys.locations, mapping={loc.id: _encoder.encode(loc) for loc in locations})
            shipping = [loc.id for loc in locations if loc.type == "store" and ships(loc)]
            if shipping:
                pipe.sadd(self.keys.ship_locations, *shipping)
            await pipe.execute()
        self._loaded_at = -math.inf


def normalise_postal(postal: str) -> str:
    return re.sub(r"[\s-]", "", postal).upper()


def centroid(postal: str, stores: list[Location]) -> tuple[float, float] | None:
    """Coordinates for ``postal`` from the stores sharing the longest postal-code prefix with it."""
    wanted = normalise_postal(postal)
    best, members = 0, []
    for store in stores:
        if store.postal_code is None or store.latitude is None or store.longitude is None:
            continue
        theirs = normalise_postal(store.postal_code)
        common = len(os.path.commonprefix([wanted, theirs]))
        if common > best:
            best, members = common, [store]
        elif common == best and common > 0:
            members.append(store)
    if best == 0:
        return None
    lat = sum(s.latitude for s in members if s.latitude is not None) / len(members)
    lon = sum(s.longitude for s in members if s.longitude is not None) / len(members)
    return lat, lon


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine): good to a few metres at these scales."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_KM * math.asin(math.sqrt(h))
