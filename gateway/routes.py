"""The gateway's own routes: the embedded authorization server's token endpoint, its keys and its metadata.

``POST /oauth/token`` answers in RFC 6749's shapes (§5.1 tokens, §5.2 errors), not problem+json: see
gateway/authorization.py. Both well-known documents are public and cacheable for a short while.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from gateway.authorization import TokenEndpoint, TokenServer
from shared.signing import KeyRing

JWKS_MEDIA_TYPE = "application/jwk-set+json"
WELL_KNOWN_CACHE = {"Cache-Control": "public, max-age=60"}


class AccessToken(msgspec.Struct, kw_only=True):
    """RFC 6749 §5.1: a successful token response."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str


class OAuthError(msgspec.Struct, kw_only=True, omit_defaults=True):
    """RFC 6749 §5.2: the error answer of the token endpoint (not problem+json: RFC 6749 mandates this shape)."""

    error: str
    error_description: str | None = None


_encoder = msgspec.json.Encoder()


@post(
    "/oauth/token",
    tags=["oauth"],
    summary="Get an access token (client_credentials)",
    status_code=200,
    request_max_body_size=16_384,
    responses={
        200: ResponseSpec(
            AccessToken,
            generate_examples=False,
            description="RFC 6749 §5.1: the access token (`Cache-Control: no-store`)",
        ),
        400: ResponseSpec(
            OAuthError,
            generate_examples=False,
            description="RFC 6749 §5.2: `invalid_request`, `unsupported_grant_type`, `invalid_scope`, "
            "`unauthorized_client`",
        ),
        401: ResponseSpec(
            OAuthError, generate_examples=False, description="`invalid_client`, with `WWW-Authenticate: Basic`"
        ),
    },
)
async def token(request: Request[Any, Any, Any], token_endpoint: NamedDependency[TokenEndpoint]) -> Response[bytes]:
    """RFC 6749 §4.4: `grant_type=client_credentials` (optionally `scope=...`), form-encoded, with the client's
    id and secret by HTTP Basic or as `client_id`/`client_secret` form fields. The answer is an RFC 9068 JWT
    access token (`typ` `at+jwt`, audience `omnigate`), signed with the key published at
    `/.well-known/jwks.json`. Without `scope`, the token carries every scope the client holds."""
    answer = await token_endpoint(request.headers, await request.body())
    return Response(
        content=_encoder.encode(answer.body),
        status_code=answer.status,
        media_type="application/json",
        headers=answer.headers,
    )


@get("/.well-known/jwks.json", tags=["oauth"], summary="The public keys our access tokens are signed with")
async def jwks(keyring: NamedDependency[KeyRing]) -> Response[bytes]:
    """RFC 7517 JWK Set: the current signing key and, after a rotation, the previous one until every token it
    signed has expired (the same JWKS the gateway publishes for the layers below as signer `gateway`)."""
    return Response(
        content=_encoder.encode(await keyring.public()), media_type=JWKS_MEDIA_TYPE, headers=WELL_KNOWN_CACHE
    )


@get(
    "/.well-known/oauth-authorization-server",
    tags=["oauth"],
    summary="Authorization server metadata (RFC 8414)",
    sync_to_thread=False,
)
def metadata(token_server: NamedDependency[TokenServer]) -> Response[bytes]:
    return Response(
        content=_encoder.encode(token_server.metadata()), media_type="application/json", headers=WELL_KNOWN_CACHE
    )


ROUTES = [token, jwks, metadata]
