"""The public contracts the gateway serves to integrators (issue 9): ``openapi/public-{web,mobile,partner}.json``,
made from the experience APIs' documents and gateway/routes.toml by ``make openapi`` (estate/public_contracts.py)
and committed, served as they are at ``/openapi/public-<channel>.json``, and rendered at ``/docs/<channel>`` with
Litestar's Scalar renderer (the reference every deployable shows at ``/schema``); ``/docs`` lists them.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from litestar import MediaType, Request, Response, get
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.params import Parameter

from shared.problems import not_found

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "openapi"
Channel = Literal["web", "mobile", "partner"]
CHANNELS: tuple[Channel, ...] = ("web", "mobile", "partner")
_CACHE = {"Cache-Control": "public, max-age=300"}
_renderer = ScalarRenderPlugin()


@functools.cache
def _document(channel: Channel) -> bytes:
    path = OPENAPI_DIR / f"public-{channel}.json"
    if not path.is_file():
        raise not_found(f"the public contract of the {channel} channel ({path.name} is not installed)")
    return path.read_bytes()


ChannelParam = Annotated[Channel, Parameter(description="The channel: web, mobile or partner")]


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
def docs(request: Request[Any, Any, Any], channel: ChannelParam) -> Response[bytes]:
    schema: dict[str, Any] = msgspec.json.decode(_document(channel))
    return Response(content=_renderer.render(request, schema), media_type=MediaType.HTML, headers=_CACHE)


ROUTES = [public_contract, docs_index, docs]
