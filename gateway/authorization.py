"""The embedded OAuth 2.0 authorization server: authlib's ``AuthorizationServer`` behind a small Litestar adapter.

authlib does the protocol: choosing the grant (``unsupported_grant_type``), client authentication by HTTP Basic
and by form post (RFC 6749 §2.3.1; ``invalid_client`` with 401 and ``WWW-Authenticate``), the
``client_credentials`` grant (RFC 6749 §4.4), scope checks (``invalid_scope``) and the error bodies of §5.2.
authlib's server is synchronous and framework-agnostic, and our clients and keys live in the async state Redis,
so the adapter does the I/O first - the client named by the request and the current signing key - and then runs
authlib on a request that carries them (:class:`TokenRequest`); authlib never blocks the event loop. Tokens are
RFC 9068 JWTs signed with joserfc (:mod:`gateway.tokens`), not authlib's deprecated ``authlib.jose`` generator.

The token endpoint answers errors in RFC 6749 §5.2's JSON shape (``{"error", "error_description"}``), not
problem+json: OAuth clients (authlib's, Spring's, MSAL...) parse exactly that shape, and RFC 6749 mandates it.
It is the one documented departure from DESIGN §7 (docs/problems.md).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientAuthentication,
    ClientCredentialsGrant,
    ClientMixin,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization

from gateway.clients import SCOPES, ClientStore, OAuthClient, secret_matches
from gateway.tokens import ALGORITHM, mint
from shared.signing import KeyRing, SigningKeys

GRANT_TYPES = ("client_credentials",)
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class TokenAnswer:
    """What the token endpoint answers: a status, an RFC 6749 §5.1 token or §5.2 error body, and headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class _Client(ClientMixin):
    """One of our OAuth clients as authlib sees it: confidential, ``client_credentials`` only, secret checked
    against its stored HMAC."""

    def __init__(self, client: OAuthClient, pepper: str) -> None:
        self.client = client
        self.pepper = pepper

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.client.scopes)
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return secret_matches(self.client, self.pepper, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


class TokenRequest(OAuth2Request):
    """An authlib request that already holds what the grant needs from Redis: the client it names (if any) and
    the signing keys."""

    def __init__(
        self,
        uri: str,
        form: dict[str, str],
        headers: Mapping[str, str],
        client: OAuthClient | None,
        signing: SigningKeys,
    ) -> None:
        super().__init__("POST", uri, headers=headers)
        self.payload = BasicOAuth2Payload(form)
        self._form = form
        self.known_client = client
        self.signing = signing

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _ClientCredentials(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def validate_token_request(self) -> None:
        super().validate_token_request()  # client authenticated, scopes known to this server
        requested = set((self.request.payload.scope or "").split())
        lacking = requested - set(self.request.client.client.scopes)
        if lacking:
            raise InvalidScopeError(description=f"the client may not ask for: {' '.join(sorted(lacking))}")

    def generate_token(
        self,
        user: object = None,
        scope: str | None = None,
        grant_type: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        server: TokenServer = self.server
        return server.issue(self.request, scope)


class TokenServer(AuthorizationServer):
    """authlib's authorization server, configured for Omnigate: ``client_credentials`` only, our scopes."""

    def __init__(self, *, issuer: str, ttl_s: int, pepper: str) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.issuer = issuer.rstrip("/")
        self.ttl_s = ttl_s
        self.pepper = pepper
        self.register_grant(_ClientCredentials)

    # --- what authlib asks a framework integration for --------------------------------------------------

    def authenticate_client(self, request: TokenRequest, methods: list[str], endpoint: str = "token") -> _Client:
        known, pepper = request.known_client, self.pepper

        def query_client(client_id: str) -> _Client | None:
            return _Client(known, pepper) if known is not None and known.client_id == client_id else None

        client: _Client = ClientAuthentication(query_client)(request, methods, endpoint)
        return client

    def create_oauth2_request(self, request: TokenRequest) -> TokenRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> TokenAnswer:
        return TokenAnswer(status, dict(body), {**dict(headers), **NO_STORE})

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        return None

    def save_token(self, token: dict[str, Any], request: TokenRequest) -> None:
        return None  # self-contained JWTs: nothing to store

    # --- ours ---------------------------------------------------------------------------------------------

    def issue(self, request: TokenRequest, scope: str | None) -> dict[str, Any]:
        """RFC 6749 §5.1's answer: a JWT for the authenticated client, with the scopes asked for or, when none
        were (§3.3), every scope the client holds; it carries the client's channel, partner and plan."""
        client: _Client = request.client
        granted = " ".join(s for s in SCOPES if s in ((scope or "").split() or client.client.scopes))
        token = mint(
            request.signing.current,
            issuer=self.issuer,
            client_id=client.client.client_id,
            scope=granted,
            ttl_s=self.ttl_s,
            now=int(time.time()),
            channel=client.client.caller_channel,
            partner_id=client.client.partner,
            plan=client.client.plan,
        )
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.ttl_s, "scope": granted}

    def answer(self, request: TokenRequest) -> TokenAnswer:
        found = self.create_token_response(request)
        if not isinstance(found, TokenAnswer):
            raise TypeError(f"authlib answered {type(found).__name__}, not a TokenAnswer")
        return found

    def error(self, error: OAuth2Error) -> TokenAnswer:
        status, body, headers = error()
        return self.handle_response(status, body, headers)

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 §2: what a client needs to find the token endpoint and the keys."""
        return {
            "issuer": self.issuer,
            "token_endpoint": self.issuer + "/oauth/token",
            "jwks_uri": self.issuer + "/.well-known/jwks.json",
            "grant_types_supported": list(GRANT_TYPES),
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "scopes_supported": list(SCOPES),
            "response_types_supported": [],  # no authorization endpoint: client_credentials only
            "access_token_signing_alg_values_supported": [ALGORITHM],
        }


def parse_form(content_type: str, body: bytes) -> dict[str, str]:
    """The token request's parameters (RFC 6749 §4.4.2): form-encoded, each at most once (§3.2)."""
    if content_type.split(";", 1)[0].strip().lower() != FORM:
        raise InvalidRequestError(description=f"the token request must be {FORM}")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestError(description="the form body is not valid") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequestError(description=f"parameter {name!r} is repeated")
        form[name] = value
    return form


class TokenEndpoint:
    """``POST /oauth/token``: the I/O (the client named by the request, the current key), then authlib."""

    def __init__(self, server: TokenServer, clients: ClientStore, keyring: KeyRing) -> None:
        self.server = server
        self.clients = clients
        self.keyring = keyring

    async def __call__(self, headers: Mapping[str, str], body: bytes) -> TokenAnswer:
        try:
            form = parse_form(headers.get("content-type", ""), body)
        except OAuth2Error as error:
            return self.server.error(error)
        basic_id, _ = extract_basic_authorization(headers)
        client_id = basic_id or form.get("client_id")
        client = await self.clients.get(client_id) if isinstance(client_id, str) else None
        request = TokenRequest(self.server.issuer + "/oauth/token", form, headers, client, await self.keyring.current())
        return self.server.answer(request)
