"""The cache contract between an experience API and the gateway's response cache (DESIGN §5): the one ETag helper
of the kernel, conditional GETs, and the tags a cached answer is purged by.

The experience API owns its answers' freshness; the gateway only follows what each answer says:

- ``ETag``: a strong entity tag (RFC 9110 §8.8.3) derived from the body bytes alone (BLAKE2b, 128 bits,
  URL-safe base64), so every worker and every replica gives the same body the same tag and a client's
  ``If-None-Match`` holds across them.
- ``Cache-Control``: ``public, max-age=<s>`` on a whole answer; ``no-store`` on a degraded one (a part of it
  could not be read), which a shared cache never keeps and never serves as fresh (RFC 9111 §5.2.2.5).
- ``X-Omnigate-Degraded``: on a degraded answer, the parts it lacks (``availability price``), so the gateway may
  serve the whole answer it kept before instead, marked stale (RFC 5861 ``stale-if-error``).
- ``X-Omnigate-Cache-Tags``: on every cacheable answer, space-separated tags naming everything whose change may
  alter it (``sku:<SKU>``, ``location:<location id>``); the gateway purges by tag on ``availability.changed``
  and ``price.applied``. Tags are made of the canonical ids' characters only (no spaces, no commas).
- ``If-None-Match`` (RFC 9110 §13.1.2): a list of entity tags or ``*``, compared weakly (``W/"x"`` matches
  ``"x"``); a match answers 304 with the ETag, Cache-Control and tags the 200 would carry, and no body
  (RFC 9110 §15.4.5). A malformed field is not a match (the full answer is sent), never an error.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from litestar import Response
from litestar.enums import MediaType

TAGS_HEADER = "X-Omnigate-Cache-Tags"
DEGRADED_HEADER = "X-Omnigate-Degraded"
NO_STORE = "no-store"
# One entity tag of an If-None-Match list: an optional weak prefix and the quoted opaque tag (RFC 9110 §8.8.3).
_ENTITY_TAG = re.compile(r'\s*(?:W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')
_TAG = re.compile(r"^[a-z]+:[A-Za-z0-9._-]{1,64}$")


def etag_of(body: bytes) -> str:
    """The strong entity tag of ``body``: ``"<22 URL-safe base64 characters>"``, the same in every process."""
    digest = hashlib.blake2b(body, digest_size=16).digest()
    return '"' + base64.urlsafe_b64encode(digest).decode().rstrip("=") + '"'


def none_match(fields: Sequence[str], etag: str) -> bool:
    """Whether the ``If-None-Match`` field lines ``fields`` match ``etag`` (weak comparison; ``*`` matches any
    current answer). No field, or a malformed one, is no match."""
    opaque = etag.removeprefix("W/")
    for field in fields:
        value = field.strip()
        if value == "*":
            return True
        position = 0
        found: list[str] = []
        while position < len(value):
            tag = _ENTITY_TAG.match(value, position)
            if tag is None:
                found = []  # malformed: the whole field is ignored
                break
            found.append(f'"{tag.group(1)}"')
            position = tag.end()
        if opaque in found:
            return True
    return False


def max_age(seconds: int) -> str:
    """``Cache-Control`` of a whole answer a shared cache may keep ``seconds`` seconds."""
    return f"public, max-age={seconds}"


def sku_tag(sku: str) -> str:
    return f"sku:{sku}"


def location_tag(location: str) -> str:
    return f"location:{location}"


def tags_value(tags: Iterable[str]) -> str:
    """The ``X-Omnigate-Cache-Tags`` value: each tag once, in the order given. A tag outside the grammar
    (``<kind>:<canonical id>``) is a bug of the caller: ValueError."""
    unique = list(dict.fromkeys(tags))
    for tag in unique:
        if not _TAG.match(tag):
            raise ValueError(f"not a cache tag: {tag!r}")
    return " ".join(unique)


def parse_tags(value: str) -> list[str]:
    """The tags of an ``X-Omnigate-Cache-Tags`` value (what the gateway indexes a kept answer by)."""
    return [tag for tag in value.split() if _TAG.match(tag)]


def conditional(
    body: bytes,
    if_none_match: Sequence[str],
    *,
    cache_control: str,
    tags: Iterable[str] | None = None,
    degraded: Sequence[str] = (),
    media_type: str = MediaType.JSON,
) -> Response[Any]:
    """A GET's answer under this contract: 200 with ``body``, or 304 without it when ``If-None-Match`` matches;
    either way with the ETag, ``cache_control``, (when given, for a cacheable answer) the tags header, and for a
    degraded answer the parts it lacks.

    ``body`` is the encoded answer (its bytes are what the ETag is of); the response is typed ``Any`` so that a
    handler declares the struct its body encodes (``-> Response[WebProduct]``), which its OpenAPI document shows
    with the headers the route declares."""
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if tags is not None:
        headers[TAGS_HEADER] = tags_value(tags)
    if degraded:
        headers[DEGRADED_HEADER] = " ".join(degraded)
    if none_match(if_none_match, etag):
        return Response(content=b"", status_code=304, headers=headers, media_type=media_type)
    return Response(content=body, status_code=200, headers=headers, media_type=media_type)
