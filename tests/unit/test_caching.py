"""The kernel's cache contract (shared/caching.py): ETags, If-None-Match, Cache-Control and cache tags."""

from __future__ import annotations

import pytest

from shared import caching


def test_the_etag_is_strong_stable_and_of_the_bytes() -> None:
    etag = caching.etag_of(b'{"sku":"A"}')
    assert etag == caching.etag_of(b'{"sku":"A"}')
    assert etag != caching.etag_of(b'{"sku":"B"}')
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 24
    assert not etag.startswith("W/")


@pytest.mark.parametrize(
    ("fields", "matches"),
    [
        ([], False),
        (["{etag}"], True),
        (["W/{etag}"], True),  # If-None-Match compares weakly (RFC 9110 §13.1.2)
        (['"other", {etag}'], True),
        (['"other",W/{etag}'], True),
        (['"other"', "{etag}"], True),  # several field lines
        (["*"], True),
        (['"other"'], False),
        (["{bare}"], False),  # an unquoted tag is malformed
        (["{etag} junk"], False),  # so is anything after a tag but a comma
        (['{etag}, "unterminated'], False),  # a malformed list is ignored whole
        ([""], False),
    ],
)
def test_if_none_match(fields: list[str], matches: bool) -> None:
    etag = caching.etag_of(b"body")
    lines = [f.format(etag=etag, bare=etag.strip('"')) for f in fields]
    assert caching.none_match(lines, etag) is matches


def test_tags_are_canonical_ids_each_once() -> None:
    tags = [caching.sku_tag("OG-1"), caching.location_tag("dc-tlb"), caching.sku_tag("OG-1")]
    assert caching.tags_value(tags) == "sku:OG-1 location:dc-tlb"
    assert caching.parse_tags("sku:OG-1  location:dc-tlb bad,tag") == ["sku:OG-1", "location:dc-tlb"]
    for bad in ("sku:has space", "sku:", "OG-1", "sku:a,b"):
        with pytest.raises(ValueError, match="not a cache tag"):
            caching.tags_value([bad])


def test_conditional_answers_200_or_304_with_the_same_headers() -> None:
    body = b'{"sku":"OG-1"}'
    full = caching.conditional(body, [], cache_control=caching.max_age(30), tags=["sku:OG-1"])
    assert full.status_code == 200 and full.content == body
    assert full.headers["Cache-Control"] == "public, max-age=30"
    assert full.headers[caching.TAGS_HEADER] == "sku:OG-1"
    held = caching.conditional(body, [full.headers["ETag"]], cache_control=caching.max_age(30), tags=["sku:OG-1"])
    assert held.status_code == 304 and held.content == b""
    assert dict(held.headers) == dict(full.headers)
    degraded = caching.conditional(body, [], cache_control=caching.NO_STORE)
    assert degraded.headers["Cache-Control"] == "no-store" and caching.TAGS_HEADER not in degraded.headers
    assert degraded.headers["ETag"] == full.headers["ETag"]
