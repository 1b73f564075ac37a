"""The gateway's settings: the kernel's, plus its authorization server's (issuer, token lifetime, the pepper of
stored client secrets and partner API keys), its check of access tokens (external issuers, how often issuers' keys
are read), where its rate limits are written, and CORS."""

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
    gateway_routes_file: Annotated[
        str,
        Meta(
            description="The TOML route table (public paths, upstreams, auth, scopes, limits, cache policy); empty "
            "means the packaged `gateway/routes.toml`. A bad entry fails the start, naming it."
        ),
    ] = ""
    gateway_issuers_file: Annotated[
        str,
        Meta(
            description="A TOML file of the external issuers whose access tokens the gateway accepts besides its "
            "own (`[[issuer]]` tables: issuer, jwks_uri, audience, algorithms, typ, customer_claim, channel, "
            "partner_claim, scopes_claim, plan; see gateway/access.py). Empty: only the embedded issuer."
        ),
    ] = ""
    gateway_jwks_refresh_s: Annotated[
        float,
        Meta(
            description="How often the gateway re-reads the keys of every issuer (its own from the state Redis, "
            "the external ones from their JWKS URLs) even when no unknown `kid` asked for it."
        ),
    ] = 300.0
    gateway_jwks_cooldown_s: Annotated[
        float,
        Meta(
            description="The least time between two reads of an external issuer's keys caused by tokens naming an "
            "unknown `kid` (a flood of made-up kids costs an issuer one JWKS fetch per cool-down, per worker). The "
            "gateway's own keys are read again at once (they are in the state Redis, and rotate without notice)."
        ),
    ] = 10.0
    gateway_jwks_timeout_s: Annotated[
        float, Meta(description="Time limit of one fetch of an external issuer's JWKS.")
    ] = 3.0
    gateway_docs_script_url: Annotated[
        str,
        Meta(
            description="Where the browser loads the API reference renderer of `/docs/<channel>` from (Scalar's "
            "standalone bundle, npm `@scalar/api-reference`). The default is the pinned release on the jsDelivr CDN; "
            "an installation without Internet access, or one that keeps third-party scripts off its origin, hosts "
            "`dist/browser/standalone.js` of that package itself and names its URL here."
        ),
    ] = "https://cdn.jsdelivr.net/npm/@scalar/api-reference@1.72.1/dist/browser/standalone.js"
    gateway_cors_origins: Annotated[
        str,
        Meta(
            description="Web origins allowed to call the gateway from a browser (CORS), comma-separated, e.g. "
            "`https://shop.example.com`; empty = none. Credentials are bearer tokens, never cookies."
        ),
    ] = ""

    gateway_trusted_proxies: Annotated[
        int,
        Meta(
            ge=0,
            le=10,
            description="How many proxies of ours (load balancer, ingress) stand in front of the gateway: the "
            "client IP that per-IP limits count is then that many entries from the right of `X-Forwarded-For`. "
            "0 = the TCP peer (a client can forge X-Forwarded-For; never trust more hops than you run).",
        ),
    ] = 0
    gateway_identity_ttl_s: Annotated[
        int,
        Meta(
            ge=30,
            le=900,
            description="Lifetime of the internal identity tokens the gateway mints for its callers (each is "
            "reused until a minute before it expires).",
        ),
    ] = 300
    gateway_identity_refresh_s: Annotated[
        float,
        Meta(
            gt=0,
            le=300,
            description="How often each gateway worker asks the state Redis for its current signing key, so that a "
            "`keys rotate` reaches the internal identity tokens it mints; while Redis cannot be read it signs "
            "with the key it holds.",
        ),
    ] = 30.0

    @property
    def cors_origins(self) -> list[str]:
        return [origin.strip() for origin in self.gateway_cors_origins.split(",") if origin.strip()]
