"""The gateway's settings: the kernel's, plus its authorization server's (issuer, token lifetime, the pepper of
stored client secrets and partner API keys) and where its rate limits are written."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from shared.settings import Settings


class GatewaySettings(Settings, kw_only=True, frozen=True):
    gateway_issuer: Annotated[
        str,
        Meta(
            description="The public base URL of the gateway: the `iss` of the access tokens it mints and the base "
            "of its RFC 8414 metadata (https in production; the launcher sets the local URL)."
        ),
    ] = "http://127.0.0.1:8000"
    gateway_token_ttl_s: Annotated[
        int,
        Meta(
            description="Lifetime of an access token from `POST /oauth/token`; a rotated-out signing key stays "
            "in the JWKS this long (plus the leeway) after rotation."
        ),
    ] = 900
    gateway_leeway_s: Annotated[
        int, Meta(description="Clock skew allowed when checking `exp`/`nbf`/`iat` of tokens.")
    ] = 30
    gateway_client_secret_pepper: Annotated[
        str,
        Meta(
            description="The server-side key of the HMAC-SHA256 that OAuth client secrets and partner API keys are "
            "stored as (a Redis dump alone cannot check a guessed secret). The launcher generates it at first run; "
            "the chart reads it from the Secret. Changing it invalidates every client secret and API key."
        ),
    ] = ""
    gateway_limits_file: Annotated[
        str,
        Meta(
            description="The TOML file of partner plans and rate limits (per plan, OAuth client, shopper and "
            "client IP); empty means the packaged `gateway/limits.toml`. A bad rate or unknown key fails the start."
        ),
    ] = ""
