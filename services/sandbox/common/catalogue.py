"""The deterministic business every sandbox back-end seeds from.

ERP, WMS and POS are separate systems, but a real retailer's three systems describe one business: the same
SKUs, the same DCs, the same stores. Each sandbox seeds its own SQLite database from this one generator, so
they agree without talking to each other. Same seed and sizes, same catalogue, on every machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

ADJECTIVES = (
    "Classic",
    "Urban",
    "Alpine",
    "Coastal",
    "Nordic",
    "Vintage",
    "Essential",
    "Heritage",
    "Active",
    "Studio",
    "Organic",
    "Premium",
    "Everyday",
    "Trail",
    "Harbour",
    "Linen",
    "Merino",
    "Canvas",
    "Velvet",
    "Cotton",
)
NOUNS = (
    "T-Shirt",
    "Hoodie",
    "Jacket",
    "Sneaker",
    "Backpack",
    "Beanie",
    "Scarf",
    "Chino",
    "Jeans",
    "Polo",
    "Sweater",
    "Parka",
    "Boot",
    "Sandal",
    "Cap",
    "Shirt",
    "Dress",
    "Skirt",
    "Tote",
    "Wallet",
)
COLOURS = ("BLK", "WHT", "NVY", "GRN", "RED", "GRY", "BEI", "BLU")
SIZES = ("XS", "S", "M", "L", "XL", "OS")
CATEGORIES = ("apparel", "footwear", "accessories", "outerwear", "bags")
CITIES = (
    ("Amsterdam", "1012", 52.3728, 4.8936),
    ("Rotterdam", "3011", 51.9225, 4.4792),
    ("Utrecht", "3511", 52.0907, 5.1214),
    ("Den Haag", "2511", 52.0705, 4.3007),
    ("Eindhoven", "5611", 51.4416, 5.4697),
    ("Groningen", "9711", 53.2194, 6.5665),
    ("Tilburg", "5038", 51.5555, 5.0913),
    ("Almere", "1315", 52.3508, 5.2647),
    ("Breda", "4811", 51.5719, 4.7683),
    ("Nijmegen", "6511", 51.8126, 5.8372),
    ("Haarlem", "2011", 52.3874, 4.6462),
    ("Arnhem", "6811", 51.9851, 5.8987),
    ("Zwolle", "8011", 52.5168, 6.0830),
    ("Leiden", "2311", 52.1601, 4.4970),
    ("Maastricht", "6211", 50.8514, 5.6910),
    ("Delft", "2611", 52.0116, 4.3571),
)
DC_SITES = (
    ("tlb", "DC Tilburg", "Tilburg", "5047"),
    ("zwl", "DC Zwolle", "Zwolle", "8013"),
    ("ams", "DC Amsterdam", "Amsterdam", "1047"),
    ("rtm", "DC Rotterdam", "Rotterdam", "3089"),
)
CURRENCY = "EUR"
COUNTRY = "NL"
_SQUARE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True, slots=True)
class Product:
    index: int
    sku: str
    name: str
    category: str
    barcode: str
    price_cents: int
    weight_grams: int


@dataclass(frozen=True, slots=True)
class Dc:
    code: str
    name: str
    city: str
    postal_code: str

    @property
    def location_id(self) -> str:
        return f"dc-{self.code}"


@dataclass(frozen=True, slots=True)
class Store:
    code: str
    square_id: str
    name: str
    city: str
    postal_code: str
    latitude: float
    longitude: float
    ship_from_store: bool


@dataclass(frozen=True, slots=True)
class Catalogue:
    seed: int
    products: tuple[Product, ...]
    dcs: tuple[Dc, ...]
    stores: tuple[Store, ...]

    def dc_stock(self, dc: Dc, product: Product) -> int:
        return _stock(self.seed, f"dc:{dc.code}", product.index, 40, 400)

    def store_stock(self, store: Store, product: Product) -> int | None:
        """Stores carry about 60% of the range; None where a store does not stock the SKU."""
        rng = random.Random(f"{self.seed}:store:{store.code}:{product.index}")
        if rng.random() > 0.6:
            return None
        return rng.randint(0, 25)


def _stock(seed: int, where: str, index: int, low: int, high: int) -> int:
    return random.Random(f"{seed}:{where}:{index}").randint(low, high)


def _ean13(rng: random.Random) -> str:
    digits = [8, 7] + [rng.randint(0, 9) for _ in range(10)]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, digits)) + str(check)


def _square_id(rng: random.Random) -> str:
    return "".join(rng.choice(_SQUARE_ALPHABET) for _ in range(13))


@lru_cache(maxsize=4)
def generate(seed: int = 42, skus: int = 5000, stores: int = 40, dcs: int = 2) -> Catalogue:
    if not (1 <= skus <= 200_000 and 0 <= stores <= 500 and 1 <= dcs <= len(DC_SITES)):
        raise ValueError("seed sizes out of range: 1-200000 SKUs, 0-500 stores, 1-4 DCs")
    rng = random.Random(seed)
    products = []
    for i in range(skus):
        style = 1000 + i // (len(COLOURS) * 2)
        colour = COLOURS[(i // 2) % len(COLOURS)]
        size = SIZES[i % len(SIZES)]
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {colour.title()} {size}"
        products.append(
            Product(
                index=i,
                sku=f"OG-{style}-{colour}-{size}-{i:06d}",
                name=name,
                category=rng.choice(CATEGORIES),
                barcode=_ean13(rng),
                price_cents=rng.randrange(995, 24995, 100),
                weight_grams=rng.randint(80, 2500),
            )
        )
    dc_list = tuple(Dc(code, name, city, postal) for code, name, city, postal in DC_SITES[:dcs])
    store_list = []
    for n in range(stores):
        city, postal, lat, lon = CITIES[n % len(CITIES)]
        branch = n // len(CITIES) + 1
        square_id = _square_id(rng)
        store_list.append(
            Store(
                # A Square location has no merchant code, so the canonical code is its id (see system-pos).
                code=square_id.lower(),
                square_id=square_id,
                name=f"Omnigate {city}" + (f" {branch}" if branch > 1 else ""),
                city=city,
                postal_code=f"{postal} {chr(65 + n % 26)}{chr(65 + (n * 7) % 26)}",
                latitude=round(lat + rng.uniform(-0.02, 0.02), 5),
                longitude=round(lon + rng.uniform(-0.02, 0.02), 5),
                ship_from_store=n % 4 == 0,
            )
        )
    return Catalogue(seed=seed, products=tuple(products), dcs=dc_list, stores=tuple(store_list))
