"""Where a customer follows a parcel: the tracking URL of a shipment, in one place.

A back-end that gives its own tracking link (a 3PL's ``tracking_url``) is believed, if it is an absolute ``https``
URL; otherwise the link is built from the carrier's public track-and-trace page below, with the tracking number
(and, where the carrier's page needs them to show the parcel, the destination's postal code and country). A carrier
the table does not know gets no URL (null): a guessed link would send the customer to the wrong page.

The patterns are the carriers' public consumer tracking pages, as the carriers link them from their own sites and
notification e-mails (the path or query parameter each carrier documents for a deep link):

========  ==================================================================================================
PostNL    ``https://jouw.postnl.nl/track-and-trace/<barcode>-<country>-<postal code>`` (postal code without spaces)
DHL       ``https://www.dhl.com/global-en/home/tracking/tracking-parcel.html?submit=1&tracking-id=<number>``
UPS       ``https://www.ups.com/track?tracknum=<number>``
DPD       ``https://tracking.dpd.de/status/en_US/parcel/<number>``
GLS       ``https://gls-group.eu/EU/en/parcel-tracking?match=<number>``
========  ==================================================================================================

Carriers are matched on their name with case, spaces and punctuation ignored, by its first word as well
(``DHL Parcel``, ``DHL eCommerce`` and ``dhl`` are DHL; ``PostNL`` and ``Post NL`` are PostNL). Every value put
into a URL is percent-encoded. Pure functions; no I/O.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from shared.models.common import Address

# Carrier key -> URL template; ``{number}``, ``{postal}`` and ``{country}`` are filled percent-encoded.
PATTERNS: dict[str, str] = {
    "postnl": "https://jouw.postnl.nl/track-and-trace/{number}-{country}-{postal}",
    "dhl": "https://www.dhl.com/global-en/home/tracking/tracking-parcel.html?submit=1&tracking-id={number}",
    "ups": "https://www.ups.com/track?tracknum={number}",
    "dpd": "https://tracking.dpd.de/status/en_US/parcel/{number}",
    "gls": "https://gls-group.eu/EU/en/parcel-tracking?match={number}",
}
MAX_URL = 2000
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def carrier_key(carrier: str) -> str | None:
    """The table's key for a carrier's name (``"DHL Parcel"`` -> ``"dhl"``), or None if the table has none."""
    whole = _NOT_ALNUM.sub("", carrier.lower())
    if whole in PATTERNS:
        return whole
    words = _NOT_ALNUM.sub(" ", carrier.lower()).split()
    return words[0] if words and words[0] in PATTERNS else None


def vendor_url(url: str | None) -> str | None:
    """The back-end's own tracking link if it is one a customer can follow (absolute ``https``, with a host, no
    spaces, at most :data:`MAX_URL` characters), else None."""
    if not url or len(url) > MAX_URL or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme == "https" and parts.hostname else None


def tracking_url(carrier: str, tracking_number: str, ship_to: Address | None, given: str | None = None) -> str | None:
    """The URL where the parcel ``tracking_number`` of ``carrier`` to ``ship_to`` is followed: ``given`` (the
    vendor's) if it is a followable link, else the carrier's page from :data:`PATTERNS`; None for an unknown
    carrier, an empty tracking number, or a page that needs the destination when there is none."""
    own = vendor_url(given)
    if own is not None:
        return own
    key = carrier_key(carrier)
    number = tracking_number.strip()
    if key is None or not number:
        return None
    pattern = PATTERNS[key]
    needs_destination = "{postal}" in pattern or "{country}" in pattern
    if needs_destination and ship_to is None:
        return None
    postal = ship_to.postal_code.replace(" ", "").upper() if ship_to is not None else ""
    country = ship_to.country if ship_to is not None else ""
    return pattern.format(number=quote(number, safe=""), postal=quote(postal, safe=""), country=quote(country, safe=""))
