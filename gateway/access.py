"""The gateway's check of access tokens: who a bearer token says the caller is, for its own issuer and any number
of external ones (Keycloak, Auth0...), as a :class:`Caller` the request pipeline routes, limits and scopes by.

Why it is built this way (DESIGN §5; RFC 6750, RFC 7519, RFC 8725 "JWT Best Current Practices", RFC 9068):

- **Nothing in the token chooses how it is checked.** The unverified ``iss`` only selects one of the issuers we
  were configured with (an unknown issuer is refused); that issuer's keys, algorithm allow-list (RS256/ES256, never
  ``none`` or HMAC), ``typ`` and audience apply. ``kid`` is required and looked up only in that issuer's keys;
  headers that would bring or point at a key (``jku``, ``x5u``, ``jwk``, ``x5c``) or change the rules (``crit``)
  are refused. The checks themselves are the kernel's (shared/identity.py: one copy for every bearer token).
- **Our own tokens** (``typ`` ``at+jwt``, audience ``omnigate``) are checked against the gateway's key ring in the
  state Redis (:func:`gateway.tokens.keyring`), re-read on an unknown ``kid`` at once (no cool-down: the token
  endpoint signs with a new key the moment ``keys rotate`` made it, so a worker that read the ring a second before
  must not refuse the tokens issued a second after; one read in flight at a time per worker, shared by every
  request waiting for it, is what a flood of made-up kids costs, the price of an API key's check) and every
  ``gateway_jwks_refresh_s``: a ``keys rotate`` is seen by every worker without a restart. Their claims are a
  strict struct: a claim we do not mint is a token we did not mint.
- **External issuers** come from a TOML file (``OMNIGATE_GATEWAY_ISSUERS_FILE``, decoded strictly,
  :class:`IssuerConfig`). Their JWKS is fetched with httpx (DESIGN §9), held in process, re-fetched every refresh
  and on an unknown ``kid`` at most once per ``gateway_jwks_cooldown_s`` (a flood of made-up kids costs the IdP one
  fetch per cool-down per worker). An IdP that is down does not refuse tokens under keys already held; with no key
  ever fetched, the answer is 503 with ``Retry-After`` (the caller's token is not at fault), never 401.
- **Validated tokens are kept** in a bounded LRU (cachetools); a hit re-checks expiry and that its key is still
  published (DESIGN §9: 63 µs per RS256 check, 7 µs from the LRU).

Refusals are ``401 unauthorized`` problem+json with ``WWW-Authenticate: Bearer realm="omnigate",
error="invalid_token", error_description=...`` (RFC 6750 §3); no token at all has no error code (§3.1); a scope the
caller lacks is ``403 forbidden`` with ``insufficient_scope`` and the scope needed (:meth:`Caller.require`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import httpx
import msgspec
from cachetools import LRUCache
from msgspec import Meta

from gateway.settings import GatewaySettings
from gateway.tokens import AUDIENCE, SIGNER, TOKEN_TYPE
from shared.identity import (
    HEADER_NAMES,
    KeySource,
    KeysUnreadable,
    PublishedKeys,
    SignerKey,
    TokenRefused,
    check_audience,
    check_header,
    check_signature,
    check_times,
    extract,
    forbidden,
    missing,
    refused,
    signer_keys,
)
from shared.problems import ProblemError
from shared.signing import KeyRing

log = logging.getLogger("omnigate.gateway.access")

REALM = "omnigate"
AUTHORIZATION = "Authorization"
CACHE_SIZE = 10_000
# Azure AD and ADFS add certificate thumbprints; they name no key we would use (keys come only from the JWKS by kid).
EXTERNAL_HEADER_NAMES = HEADER_NAMES | {"x5t", "x5t#S256"}

ChannelName = Literal["web", "mobile", "partner"]
# What a claim naming a customer, partner or client may hold: visible ASCII, no space (an IdP's sub, an email).
CallerId = Annotated[str, Meta(pattern=r"^[\x21-\x7e]{1,128}$")]
Algorithm = Literal["RS256", "ES256"]


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    """Who a valid access token says the caller is.

    ``channel`` is ``partner`` with a ``partner_id``, else ``web`` or ``mobile`` with a ``customer_id`` (a
    shopper) or only a ``client_id`` (a client acting for itself). ``scopes`` as granted (RFC 6749 §3.3);
    ``plan`` names the rate-limit plan, if the issuer or client has one."""

    issuer: str
    sub: CallerId
    channel: ChannelName
    customer_id: CallerId | None = None
    partner_id: CallerId | None = None
    client_id: CallerId | None = None
    scopes: frozenset[str] = frozenset()
    plan: str | None = None

    def __post_init__(self) -> None:
        if (self.channel == "partner") != (self.partner_id is not None):
            raise ValueError("a partner caller, and only one, carries a partner_id")
        if self.channel != "partner" and self.customer_id is None and self.client_id is None:
            raise ValueError(f"a {self.channel} caller is a customer or a client")

    @property
    def consumer(self) -> str:
        """The subject limits count against: ``partner:<id>``, ``customer:<id>`` or ``client:<id>``."""
        if self.partner_id is not None:
            return f"partner:{self.partner_id}"
        if self.customer_id is not None:
            return f"customer:{self.customer_id}"
        return f"client:{self.client_id}"

    def require(self, scopes: Iterable[str]) -> None:
        """403 ``insufficient_scope`` (RFC 6750 §3.1) naming the scopes needed, unless the caller holds them all."""
        needed = list(scopes)
        lacking = [scope for scope in needed if scope not in self.scopes]
        if lacking:
            raise forbidden(f"this route needs the scope(s) {' '.join(lacking)}", scope=" ".join(needed), realm=REALM)


def insufficient_scope(detail: str, *, scope: str) -> ProblemError:
    """403 ``insufficient_scope`` with our realm (for a check other than :meth:`Caller.require`'s)."""
    return forbidden(detail, scope=scope, realm=REALM)


def bearer_of(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 §2.1; the scheme is case-insensitive),
    or None when there is none."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


# --- configuration of external issuers --------------------------------------------------------------------------


class IssuerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One ``[[issuer]]`` of the issuers file.

    - ``issuer``: the exact ``iss`` of its tokens; ``jwks_uri``: its JWK Set (RFC 7517), over https in production;
    - ``audience``: what ``aud`` (a string or an array) must hold;
    - ``algorithms``: the allow-list (RS256, ES256); ``typ``: the ``typ`` headers accepted (RFC 9068's ``at+jwt``;
      many IdPs send ``JWT``), compared case-insensitively with ``application/`` optional;
    - ``customer_claim``: the claim holding the customer id (``sub``, ``email``, a custom claim); ``channel``: web or
      mobile; ``partner_claim``: if set and present, the caller is that partner (channel partner) instead;
    - ``scopes_claim``: ``scope`` (space-separated) or ``scp`` (an array, or space-separated); ``plan``: the plan
      its callers get; ``client_claim``: the claim naming the OAuth client (RFC 9068 ``client_id``; Azure ``azp``).
    """

    issuer: Annotated[str, Meta(min_length=1)]
    jwks_uri: Annotated[str, Meta(pattern=r"^https?://")]
    audience: Annotated[str, Meta(min_length=1)]
    algorithms: Annotated[tuple[Algorithm, ...], Meta(min_length=1)] = ("RS256", "ES256")
    typ: Annotated[tuple[Annotated[str, Meta(min_length=1)], ...], Meta(min_length=1)] = (TOKEN_TYPE,)
    customer_claim: str = "sub"
    channel: Literal["web", "mobile"] = "web"
    partner_claim: str | None = None
    scopes_claim: str = "scope"
    client_claim: str = "client_id"
    plan: str | None = None


class IssuersFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    issuer: list[IssuerConfig] = []


def load_issuers(path: str | Path) -> list[IssuerConfig]:
    """The external issuers of a TOML file, decoded strictly (an unknown key is an error, not ignored)."""
    file = Path(path)
    try:
        found = msgspec.toml.decode(file.read_bytes(), type=IssuersFile).issuer
    except (OSError, msgspec.DecodeError) as exc:
        raise ValueError(f"the issuers file {file} is not valid: {exc}") from exc
    names = [config.issuer for config in found]
    if len(set(names)) != len(names):
        raise ValueError(f"the issuers file {file} names an issuer twice")
    return found


# --- key sources ------------------------------------------------------------------------------------------------


class RingKeys:
    """The public keys of the gateway's own key ring in the state Redis (current and, after a rotation, previous)."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    async def load(self) -> dict[str, SignerKey]:
        return signer_keys(SIGNER, await self.ring.public())


class JwksKeys:
    """An external issuer's JWK Set, fetched over HTTP; keys not meant for signatures are left out."""

    def __init__(self, http: httpx.AsyncClient, config: IssuerConfig) -> None:
        self.http = http
        self.config = config
        self.fetches = 0  # for operators' metrics and tests: how often this worker asked

    async def load(self) -> dict[str, SignerKey]:
        self.fetches += 1
        try:
            response = await self.http.get(self.config.jwks_uri, headers={"Accept": "application/json"})
            response.raise_for_status()
            found = msgspec.json.decode(response.content, type=dict[str, list[dict[str, Any]]])
        except (httpx.HTTPError, msgspec.DecodeError) as exc:
            raise KeysUnreadable(f"the JWKS of {self.config.issuer} could not be fetched: {exc}") from exc
        usable = [key for key in found.get("keys", []) if key.get("use", "sig") == "sig"]
        return signer_keys(self.config.issuer, {"keys": usable})


# --- claims -----------------------------------------------------------------------------------------------------


class Registered(msgspec.Struct, frozen=True, kw_only=True):
    """The registered claims every issuer's token is checked by (RFC 7519 §4.1); other claims pass through."""

    iss: str
    aud: str | list[str]
    exp: int
    nbf: int | None = None
    iat: int | None = None
    sub: str | None = None


class OurClaims(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What :func:`gateway.tokens.mint` writes, strictly (RFC 9068 §2.2 plus ours)."""

    iss: str
    aud: str | list[str]
    sub: CallerId
    client_id: CallerId
    iat: int
    exp: int
    jti: str
    nbf: int | None = None
    scope: str = ""
    channel: ChannelName | None = None  # minted before channels: a partner's if partner_id, else web
    customer_id: CallerId | None = None
    partner_id: CallerId | None = None
    plan: str | None = None


def _decode(payload: bytes | None, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(payload or b"", type=kind)
    except msgspec.DecodeError as exc:
        raise TokenRefused(f"the token's claims are not valid: {exc}") from exc


def _caller(fields: Mapping[str, Any]) -> Caller:
    try:
        return msgspec.convert(fields, Caller)
    except msgspec.ValidationError as exc:
        raise TokenRefused(f"the token does not name a caller: {exc}") from exc


class _Unverified(msgspec.Struct, frozen=True):
    iss: str | None = None


class Issuer(Protocol):
    """An issuer whose tokens we accept: its rules, its keys, and how its claims name a caller."""

    name: str
    audience: str
    algorithms: Sequence[str]
    types: Sequence[str]
    header_names: frozenset[str]
    keys: PublishedKeys

    def caller(self, payload: bytes | None, claims: Registered) -> Caller: ...


class EmbeddedIssuer:
    """The gateway's own authorization server (gateway/authorization.py, ``omnigate token``)."""

    audience = AUDIENCE
    algorithms: Sequence[str] = ("RS256",)
    types: Sequence[str] = (TOKEN_TYPE,)
    header_names = HEADER_NAMES

    def __init__(self, name: str, keys: PublishedKeys) -> None:
        self.name = name
        self.keys = keys

    def caller(self, payload: bytes | None, claims: Registered) -> Caller:
        ours: OurClaims = _decode(payload, OurClaims)
        channel = ours.channel or ("partner" if ours.partner_id else "web")
        return _caller(
            {
                "issuer": self.name,
                "sub": ours.sub,
                "channel": channel,
                "customer_id": ours.customer_id,
                "partner_id": ours.partner_id,
                "client_id": ours.client_id,
                "scopes": ours.scope.split(),
                "plan": ours.plan,
            }
        )


class ExternalIssuer:
    """An external IdP, mapped to a caller as its :class:`IssuerConfig` says."""

    header_names = EXTERNAL_HEADER_NAMES

    def __init__(self, config: IssuerConfig, keys: PublishedKeys) -> None:
        self.config = config
        self.name = config.issuer
        self.audience = config.audience
        self.algorithms: Sequence[str] = config.algorithms
        self.types: Sequence[str] = config.typ
        self.keys = keys

    def caller(self, payload: bytes | None, claims: Registered) -> Caller:
        found: dict[str, Any] = _decode(payload, dict[str, Any])
        config = self.config
        partner = found.get(config.partner_claim) if config.partner_claim else None
        customer = None if partner is not None else found.get(config.customer_claim)
        if partner is None and customer is None:
            raise TokenRefused(f"the token carries no {config.customer_claim} claim")
        return _caller(
            {
                "issuer": self.name,
                "sub": claims.sub if claims.sub is not None else customer or partner,
                "channel": "partner" if partner is not None else config.channel,
                "customer_id": customer,
                "partner_id": partner,
                "client_id": found.get(config.client_claim),
                "scopes": _scopes(found.get(config.scopes_claim)),
                "plan": config.plan,
            }
        )


def _scopes(value: object) -> list[str]:
    """``scope`` is space-separated (RFC 8693 §4.2, RFC 9068 §2.2.3); ``scp`` is an array (Okta) or a string
    (Azure AD)."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise TokenRefused("the token's scopes are neither a string nor an array of strings")


# --- the check --------------------------------------------------------------------------------------------------


class _Verified(msgspec.Struct, frozen=True):
    caller: Caller
    exp: int
    issuer: str
    kid: str


class AccessTokens:
    """Checks bearer tokens of the embedded issuer and the configured external ones (module docstring: the rules).

    ``verify(token) -> Caller`` or :class:`shared.problems.ProblemError`: 401 ``unauthorized`` with an RFC 6750
    challenge (realm ``omnigate``), or 503 ``service-unavailable`` with ``Retry-After`` when the issuer's keys were
    never readable. ``clock`` (epoch seconds) is injectable; ``leeway_s`` is the skew allowed on ``exp``/``nbf``/``iat``.
    """

    def __init__(
        self,
        issuers: Sequence[Issuer],
        *,
        leeway_s: int,
        cache_size: int = CACHE_SIZE,
        clock: Callable[[], float] = time.time,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.issuers = {issuer.name: issuer for issuer in issuers}
        if len(self.issuers) != len(issuers):
            raise ValueError("two issuers share one iss")
        self.leeway_s = leeway_s
        self.clock = clock
        self.http = http
        self._verified: LRUCache[str, _Verified] = LRUCache(cache_size)

    @classmethod
    def build(
        cls,
        settings: GatewaySettings,
        ring: KeyRing,
        external: Sequence[IssuerConfig] = (),
        *,
        clock: Callable[[], float] = time.time,
    ) -> AccessTokens:
        """The gateway's check: its own issuer (``settings.gateway_issuer``, keys from ``ring``) and ``external``
        (default: the issuers file of the settings). Close it with :meth:`aclose`."""
        configs = list(external) or (
            load_issuers(settings.gateway_issuers_file) if settings.gateway_issuers_file else []
        )

        def keys(source: KeySource, what: str, cooldown_s: float = settings.gateway_jwks_cooldown_s) -> PublishedKeys:
            return PublishedKeys(
                [source], what=what, refresh_s=settings.gateway_jwks_refresh_s, cooldown_s=cooldown_s, clock=clock
            )

        own = settings.gateway_issuer.rstrip("/")
        # Our own ring: read again at once on an unknown kid (the module docstring says why).
        issuers: list[Issuer] = [EmbeddedIssuer(own, keys(RingKeys(ring), "the gateway's signing keys", 0.0))]
        http = httpx.AsyncClient(timeout=settings.gateway_jwks_timeout_s) if configs else None
        if http is not None:
            issuers += [ExternalIssuer(c, keys(JwksKeys(http, c), f"the keys of {c.issuer}")) for c in configs]
        return cls(issuers, leeway_s=settings.gateway_leeway_s, clock=clock, http=http)

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.aclose()

    async def verify(self, bearer: str | None) -> Caller:
        """The caller a bearer token names (the token alone, as :func:`bearer_of` finds it)."""
        if not bearer:
            raise missing(AUTHORIZATION, realm=REALM)
        now = self.clock()
        hit = self._verified.get(bearer)
        if hit is not None:
            issuer = self.issuers[hit.issuer]
            await issuer.keys.fresh()
            if now < hit.exp + self.leeway_s and issuer.keys.holds(hit.kid):
                return hit.caller
            self._verified.pop(bearer, None)
        try:
            found = await self._check(bearer, now)
        except TokenRefused as exc:
            raise refused(str(exc), realm=REALM) from exc
        self._verified[bearer] = found
        return found.caller

    async def _check(self, bearer: str, now: float) -> _Verified:
        obj = extract(bearer)
        issuer = self._issuer_of(obj.payload)
        header = obj.headers()
        kid = check_header(header, algorithms=issuer.algorithms, types=issuer.types, names=issuer.header_names)
        await issuer.keys.fresh()
        key = await issuer.keys.find(kid)
        check_signature(obj, header["alg"], key.key)
        claims: Registered = _decode(obj.payload, Registered)
        if claims.iss != issuer.name:  # the payload was read before the signature was checked: read it again
            raise TokenRefused("the token's issuer is not one we accept")
        check_audience(claims.aud, issuer.audience)
        check_times(now, self.leeway_s, exp=claims.exp, nbf=claims.nbf, iat=claims.iat)
        return _Verified(issuer.caller(obj.payload, claims), claims.exp, issuer.name, kid)

    def _issuer_of(self, payload: bytes | None) -> Issuer:
        """The configured issuer the (not yet verified) ``iss`` names: it selects the keys and rules, nothing else."""
        iss = _decode(payload, _Unverified).iss
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise TokenRefused("the token's issuer is not one we accept")
        return issuer
