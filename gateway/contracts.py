"""The public contracts the gateway serves to integrators (issue 9): ``openapi/public-{web,mobile,partner}.json``,
made from the experience APIs' documents and gateway/routes.toml by ``make openapi`` (estate/public_contracts.py)
and committed, served as they are at ``/openapi/public-<channel>.json``, and rendered at ``/docs/<channel>`` by
Scalar (https://github.com/scalar/scalar, the renderer every deployable shows at ``/schema``) in the reader's
browser; ``/docs`` lists them. Litestar's ``ScalarRenderPlugin`` always points Scalar at the app's own document, so
the page is written here: Scalar's HTML embedding (a ``script#api-reference`` whose ``data-url`` names the channel's
contract, then the bundle), the bundle from ``OMNIGATE_GATEWAY_DOCS_SCRIPT_URL``.
"""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path
from typing import Annotated, Literal

from litestar import MediaType, Response, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from shared.problems import not_found

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "openapi"
Channel = Literal["web", "mobile", "partner"]
CHANNELS: tuple[Channel, ...] = ("web", "mobile", "partner")
_CACHE = {"Cache-Control": "public, max-age=300"}


@functools.cache
def _document(channel: Channel) -> bytes:
    path = OPENAPI_DIR / f"public-{channel}.json"
    if not path.is_file():
        raise not_found(f"the public contract of the {channel} channel ({path.name} is not installed)")
    return path.read_bytes()


ChannelParam = Annotated[Channel, Parameter(description="The channel: web, mobile or partner")]


# Scalar's options: the page loads nothing beyond the contract and the bundle (no web fonts, no hosted AI agent,
# no developer toolbar), every tag open so the whole contract reads top to bottom.
_SCALAR = html.escape(
    json.dumps(
        {
            "withDefaultFonts": False,
            "agent": {"disabled": True},
            "showDeveloperTools": "never",
            "defaultOpenAllTags": True,
        }
    ),
    quote=True,
)

_FILES: dict[str, Channel] = {f"public-{c}.json": c for c in CHANNELS}


@get(
    "/openapi/{name:str}",
    tags=["contracts"],
    summary="A channel's public contract (OpenAPI 3.1): public-web.json, public-mobile.json, public-partner.json",
    sync_to_thread=False,
)
def public_contract(name: Annotated[str, Parameter(max_length=64)]) -> Response[bytes]:
    """The OpenAPI document integrators of a channel build against, as committed in ``openapi/``."""
    channel = _FILES.get(name)
    if channel is None:
        raise not_found(f"the document {name} (the public contracts are {', '.join(_FILES)})")
    return Response(content=_document(channel), media_type=MediaType.JSON, headers=_CACHE)


@get("/docs", tags=["contracts"], summary="The public API reference", sync_to_thread=False)
def docs_index() -> Response[str]:
    """An HTML page linking each channel's rendered reference and OpenAPI document."""
    items = "".join(
        f'<li><a href="/docs/{c}">{c}</a> (<a href="/openapi/public-{c}.json">OpenAPI</a>)</li>' for c in CHANNELS
    )
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Omnigate API reference</title></head>"
        f"<body><h1>Omnigate API reference</h1><ul>{items}</ul></body></html>"
    )
    return Response(content=page, media_type=MediaType.HTML, headers=_CACHE)


@get("/docs/{channel:str}", tags=["contracts"], summary="A channel's rendered reference", sync_to_thread=False)
def docs(channel: ChannelParam, docs_script_url: NamedDependency[str]) -> Response[str]:
    """An HTML page on which Scalar renders ``/openapi/public-<channel>.json`` (404 if it is not installed)."""
    _document(channel)
    script = html.escape(docs_script_url)
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1"><link rel=icon href="data:,">'
        f"<title>Omnigate {channel} API reference</title></head><body>"
        f'<script id=api-reference data-url="/openapi/public-{channel}.json" data-configuration="{_SCALAR}"></script>'
        f'<script src="{script}" crossorigin></script></body></html>'
    )
    return Response(content=page, media_type=MediaType.HTML, headers=_CACHE)


ROUTES = [public_contract, docs_index, docs]
