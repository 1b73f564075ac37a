"""The internal identity token: who a call is for, minted once at the edge and verified by every layer below.

The gateway never forwards a caller's token (DESIGN §5). It sends ``X-Omnigate-Identity``: a short-lived JWT
(``typ`` ``omnigate-identity+jwt``, audience ``omnigate-internal``) naming the caller's ``sub``, ``channel``,
customer or partner id and scopes, signed with its own key. Experience and process APIs verify it here and derive
the owner (``<channel>:<customer or partner id>``, ``ops:<operator>``) from it, so no bare owner header is trusted.

Why it is built this way:

- **Signing is off the hot path.** :class:`Minter` keeps the token it made for an identity (a bounded LRU) and
  hands it out again until it is near expiry.
- **Keys never come by an upward call.** A signer publishes its *public* keys (current and previous during
  rotation) in the state Redis under ``<prefix>omnigate.identity-keys`` (a hash: signer name -> JWKS), or they are
  mounted as a file (a Secret). :class:`Verifier` caches them in process, re-reads them every ``refresh_s``, and on
  an unknown ``kid`` at once (one read at a time, shared by every request waiting for it: a signer may sign with
  a new key the moment ``keys rotate`` published it, and a refusal until some cool-down ended would be a 401 for
  a valid caller); a key withdrawn from the set stops verifying at the next read.
- **Nothing in the token chooses how it is checked.** Only RS256 and ES256; ``kid`` required and looked up only
  in the published keys, and the key's type must fit ``alg``; any header beyond ``alg``, ``kid``, ``typ`` (``jku``,
  ``x5u``, ``jwk``, ``x5c``, ``crit``, ``b64``...) is refused; the claims are a strict struct (unknown claims
  refused); ``iss``, ``aud`` (a string or an array), ``exp``/``nbf``/``iat`` with a small leeway and a bounded
  lifetime are checked against one injectable clock. Verified tokens are kept in a bounded LRU whose hits
  re-check expiry and that their key is still published. These checks (:func:`check_header`,
  :func:`check_signature`, :func:`check_audience`, :func:`check_times`) and the key cache (:class:`PublishedKeys`)
  are the ones every bearer-token verifier here uses (the gateway's check of access tokens too): one copy.
- **A signer is bound to what it may say.** The edge signers (the gateway) mint any caller's identity. Every other
  signer is a deployable carrying its own *service identity* for calls with no caller (saga retries, sweeps,
  relays, process -> process): its key is its own (:class:`shared.signing.KeyRing`, kept in the state Redis),
  published under its own name, and a token under that key verifies only as
  ``channel=internal`` with ``service`` = that name. A leaked service key cannot speak for a shopper.

Every refusal is ``401 unauthorized`` problem+json with an RFC 6750 ``WWW-Authenticate`` (``invalid_token``); a
missing token has no error code (RFC 6750 §3.1); a scope or channel an identity lacks is ``403 forbidden`` with
``insufficient_scope``. A key set that cannot be read at all (Redis down before any key was ever loaded) is a
503: the caller's token is not at fault.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import msgspec
from cachetools import LRUCache
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import DictKey, ECKey, Key, KeyParameters, KeySet, KeySetSerialization, RSAKey
from msgspec import Meta
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.problems import ProblemError
from shared.replies import text

log = logging.getLogger("omnigate.identity")

HEADER = "X-Omnigate-Identity"
TOKEN_TYPE = "omnigate-identity+jwt"
AUDIENCE = "omnigate-internal"
DEFAULT_ISSUER = "urn:omnigate:identity"
ALGORITHMS = ("RS256", "ES256")
# Signers that mint caller identities; any other signer is a deployable speaking only for itself.
EDGE_SIGNERS = frozenset({"gateway"})
REALM = "omnigate-internal"
MAX_TOKEN_BYTES = 4096

Channel = Literal["web", "mobile", "partner", "internal", "ops"]
Id = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
ServiceName = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
Scope = Annotated[str, Meta(pattern=r"^[\x21\x23-\x5b\x5d-\x7e]{1,64}$")]  # RFC 6749 scope-token


class Identity(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Who a call is for. Hashable (the minter's LRU key); ``scopes`` is a set, so order never makes two."""

    sub: Id
    channel: Channel
    customer_id: Id | None = None
    partner_id: Id | None = None
    service: ServiceName | None = None
    scopes: frozenset[Scope] = frozenset()

    def __post_init__(self) -> None:
        wanted = _SHAPES[self.channel]
        given = (self.customer_id is not None, self.partner_id is not None, self.service is not None)
        if given != wanted:
            raise ValueError(f"a {self.channel} identity carries {_SHAPE_TEXT[self.channel]}")

    @property
    def owner(self) -> str | None:
        """``<channel>:<customer or partner id>`` (``ops:<sub>`` for an operator); a service acts for no owner."""
        if self.channel == "internal":
            return None
        return f"{self.channel}:{self.customer_id or self.partner_id or self.sub}"

    def require_owner(self) -> str:
        """The owner a caller's request is scoped by; a service identity has none and is refused (403)."""
        if self.owner is None:
            raise forbidden("a service identity acts for no owner; this route needs a caller's identity")
        return self.owner

    def has_scope(self, scope: str) -> bool:
        if scope.endswith("*"):
            return any(held.startswith(scope[:-1]) for held in self.scopes)
        return scope in self.scopes


class CarriedIdentity(msgspec.Struct, frozen=True):
    """A verified identity together with the token it came in (``caller: NamedDependency[CarriedIdentity]``).

    A deployable that passes its caller on to the layer below (the experience APIs, DESIGN §5) sends the very
    token it received (``Upstream.request(..., identity=caller.token)``): it never mints one."""

    identity: Identity
    token: str


class Access(msgspec.Struct, frozen=True):
    """Who may call a route: for each channel let in, the scope an identity on it must hold (``None``: the
    channel alone suffices). A channel not named is refused. One table per route kind, kept beside the routes,
    so a route's rule reads in one line (``shared.service.requires``); operators are ``{"ops": "ops:*"}``.

    A scope ending in ``*`` (``ops:*``) is met by any scope with that prefix, or the wildcard itself.
    Refusals are 403 ``forbidden`` with an RFC 6750 ``insufficient_scope`` challenge naming the scope."""

    scopes: Mapping[Channel, str | None]

    def check(self, identity: Identity) -> Identity:
        """``identity`` if this rule lets it in; a 403 problem otherwise."""
        if identity.channel not in self.scopes:
            allowed = ", ".join(self.scopes)
            raise forbidden(f"this route is for the {allowed} channel(s), not {identity.channel}")
        scope = self.scopes[identity.channel]
        if scope is not None and not identity.has_scope(scope):
            raise forbidden(f"the {scope} scope is required on the {identity.channel} channel", scope=scope)
        return identity


# Operator routes: channel=ops with an ops:* scope (DESIGN §5).
OPERATORS = Access({"ops": "ops:*"})

# channel -> (customer_id, partner_id, service) present
_SHAPES: dict[str, tuple[bool, bool, bool]] = {
    "web": (True, False, False),
    "mobile": (True, False, False),
    "partner": (False, True, False),
    "internal": (False, False, True),
    "ops": (False, False, False),
}
_SHAPE_TEXT = {
    "web": "a customer_id and nothing else",
    "mobile": "a customer_id and nothing else",
    "partner": "a partner_id and nothing else",
    "internal": "the calling deployable's name (service) and no customer or partner",
    "ops": "no customer, partner or service (the operator is its sub)",
}


def service_identity(name: str, scopes: frozenset[str] = frozenset()) -> Identity:
    """The identity a deployable carries on calls that have no caller (``channel=internal``)."""
    return Identity(sub=f"service:{name}", channel="internal", service=name, scopes=scopes)


class Claims(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """The token's payload, decoded strictly: a claim we did not define is a token we did not mint."""

    iss: str
    aud: str | list[str]
    sub: str
    channel: str
    iat: int
    exp: int
    jti: str
    nbf: int | None = None
    customer_id: str | None = None
    partner_id: str | None = None
    service: str | None = None
    scope: str = ""


# --- Problems ------------------------------------------------------------------------------------------------------


class TokenRefused(ValueError):
    """Why a bearer token is refused, raised by the checks below that every verifier shares (this module's
    :class:`Verifier`, the gateway's access-token check); each verifier turns it into its own 401 challenge."""


def challenge(
    error: str | None = None, description: str | None = None, scope: str | None = None, *, realm: str = REALM
) -> str:
    """An RFC 6750 §3 ``WWW-Authenticate: Bearer`` challenge for ``realm``: no error code when no token came
    (§3.1), ``invalid_token`` for a refused one, ``insufficient_scope`` (with the ``scope`` needed) for too little."""
    parts = [f'realm="{realm}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{_quotable(description)}"')
    if scope:
        parts.append(f'scope="{scope}"')
    return "Bearer " + ", ".join(parts)


def _quotable(description: str) -> str:
    """RFC 6750 §3: ``error_description`` holds only %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash)."""
    return "".join(c if " " <= c <= "~" and c not in '"\\' else "'" for c in description)


def refused(detail: str, *, realm: str = REALM) -> ProblemError:
    """401: the token is not one we accept (RFC 6750 ``invalid_token``)."""
    return ProblemError(
        "unauthorized",
        detail,
        headers={"WWW-Authenticate": challenge("invalid_token", detail, realm=realm)},
        in_doubt=False,
    )


def missing(header: str = HEADER, *, realm: str = REALM) -> ProblemError:
    """401: no token at all (RFC 6750 §3.1: no error code)."""
    return ProblemError(
        "unauthorized",
        f"the {header} header is required",
        headers={"WWW-Authenticate": challenge(realm=realm)},
        in_doubt=False,
    )


def forbidden(detail: str, *, scope: str | None = None, realm: str = REALM) -> ProblemError:
    """403: a valid token whose holder may not do this (RFC 6750 ``insufficient_scope``)."""
    found = challenge("insufficient_scope", detail, scope, realm=realm)
    return ProblemError("forbidden", detail, headers={"WWW-Authenticate": found}, in_doubt=False)


# --- Keys ----------------------------------------------------------------------------------------------------------


def algorithm_of(key: Key) -> str:
    """The one algorithm a key signs with: RS256 for RSA (2048 bits or more), ES256 for EC P-256."""
    if isinstance(key, RSAKey) and key.raw_value.key_size >= 2048:
        return "RS256"
    if isinstance(key, ECKey) and key.as_dict().get("crv") == "P-256":
        return "ES256"
    raise ValueError(f"an identity key is RSA (2048+) or EC P-256, not {key.key_type}")


def generate_key(alg: str = "ES256") -> Key:
    """A new private signing key with its RFC 7638 thumbprint as ``kid``."""
    params: KeyParameters = {"use": "sig", "alg": alg}
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=params, auto_kid=True)
    if alg == "RS256":
        return RSAKey.generate_key(2048, parameters=params, auto_kid=True)
    raise ValueError(f"identity keys are RS256 or ES256, not {alg}")


def public_jwks(keys: Sequence[Key]) -> KeySetSerialization:
    """The public JWKS of ``keys`` (private members never leave the signer)."""
    return {"keys": [_public_jwk(key) for key in keys]}


def _public_jwk(key: Key) -> DictKey:
    found = dict(key.as_dict(private=False))
    found.setdefault("alg", algorithm_of(key))
    found["use"] = "sig"
    if not found.get("kid"):
        raise ValueError("an identity key needs a kid")
    return found


def keys_key(prefix: str) -> str:
    """The state-Redis hash of published public keys: signer name -> JWKS."""
    return f"{prefix}omnigate.identity-keys"


async def publish_keys(redis: Redis, prefix: str, signer: str, jwks: Mapping[str, Any]) -> None:
    """Publish ``signer``'s public keys (current and previous), replacing what it published before."""
    found = KeySet.import_key_set(msgspec.convert(dict(jwks), KeySetSerialization))
    if any(key.is_private for key in found.keys):
        raise ValueError("a published key set must hold public keys only")
    await redis.hset(keys_key(prefix), signer, json.dumps(public_jwks(list(found.keys))))


async def withdraw_keys(redis: Redis, prefix: str, signer: str) -> None:
    await redis.hdel(keys_key(prefix), signer)


# --- Minting -------------------------------------------------------------------------------------------------------


class Minter:
    """Signs identity tokens with the current key; one token per identity, reused until ``renew_s`` before expiry."""

    def __init__(
        self,
        key: Key,
        *,
        issuer: str = DEFAULT_ISSUER,
        ttl_s: int = 300,
        renew_s: int = 60,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if key.kid is None or not key.is_private:
            raise ValueError("a minter needs a private key with a kid")
        if not 0 <= renew_s < ttl_s:
            raise ValueError("renew_s must be shorter than ttl_s")
        self.key = key
        self.alg = algorithm_of(key)
        self.kid = key.kid
        self.issuer = issuer
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self.clock = clock
        self._made: LRUCache[Identity, tuple[str, int]] = LRUCache(cache_size)

    def mint(self, identity: Identity) -> str:
        now = int(self.clock())
        found = self._made.get(identity)
        if found is not None and now < found[1] - self.renew_s:
            return found[0]
        token, exp = self._sign(identity, now)
        self._made[identity] = (token, exp)
        return token

    def _sign(self, identity: Identity, now: int) -> tuple[str, int]:
        exp = now + self.ttl_s
        claims = Claims(
            iss=self.issuer,
            aud=AUDIENCE,
            sub=identity.sub,
            channel=identity.channel,
            iat=now,
            exp=exp,
            jti=uuid.uuid4().hex,
            customer_id=identity.customer_id,
            partner_id=identity.partner_id,
            service=identity.service,
            scope=" ".join(sorted(identity.scopes)),
        )
        header = {"alg": self.alg, "kid": self.kid, "typ": TOKEN_TYPE}
        return jws.serialize_compact(header, msgspec.json.encode(claims), self.key, algorithms=[self.alg]), exp


# --- Verifying -----------------------------------------------------------------------------------------------------


class SignerKey(msgspec.Struct, frozen=True):
    signer: str
    key: Key


class KeySource(Protocol):
    """Where a verifier reads the published public keys: ``kid -> SignerKey``."""

    async def load(self) -> dict[str, SignerKey]: ...


def signer_keys(signer: str, jwks: Mapping[str, Any]) -> dict[str, SignerKey]:
    """The usable keys of one signer's JWKS (a key without a kid, private, or of another type is skipped)."""
    found: dict[str, SignerKey] = {}
    for key in KeySet.import_key_set(msgspec.convert(dict(jwks), KeySetSerialization)).keys:
        try:
            algorithm_of(key)
        except ValueError:
            log.warning("identity key %s of %s skipped: not RS256/ES256", key.kid, signer)
            continue
        if key.kid and not key.is_private:
            found[key.kid] = SignerKey(signer, key)
    return found


class RedisKeys:
    """The keys every signer published in the state Redis."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    async def load(self) -> dict[str, SignerKey]:
        published = await self.redis.hgetall(keys_key(self.prefix))
        found: dict[str, SignerKey] = {}
        for signer, jwks in published.items():
            try:  # one signer's unreadable key set never hides the others'
                found.update(signer_keys(text(signer), json.loads(jwks)))
            except (ValueError, JoseError) as exc:
                log.warning("identity keys of %s skipped: %s", text(signer), exc)
        return found


class FileKeys:
    """A signer's public JWKS mounted as a file (a Kubernetes Secret or ConfigMap); re-read on every load."""

    def __init__(self, path: Path, signer: str) -> None:
        self.path = path
        self.signer = signer

    async def load(self) -> dict[str, SignerKey]:
        return signer_keys(self.signer, json.loads(self.path.read_text()))


class KeysUnreadable(Exception):
    """A key source could not be read (Redis or a JWKS endpoint down, an unusable answer)."""


class PublishedKeys:
    """The verification keys of one or more sources (``kid -> SignerKey``), held in process.

    Re-read every ``refresh_s``; on an unknown ``kid`` at most once per ``cooldown_s`` (a flood of made-up kids
    costs the source one read per cool-down: for an external IdP's JWKS over HTTP), and never for a request that
    arrived before a read that has begun since (so with ``cooldown_s=0``, for a source that is ours and cheap to read
    such as the state Redis, a new key is found at once and a flood costs one read in flight at a time); while
    nothing was ever read, at most once a second. A read that
    fails keeps the keys held (a source down does not refuse tokens it already verified the keys of); with
    nothing held it is a 503 ``service-unavailable`` with ``Retry-After``: the caller's token is not at fault.
    Concurrent requests that find the keys stale read them once (a lock, the condition asked again under it).
    """

    def __init__(
        self,
        sources: Sequence[KeySource],
        *,
        what: str = "the identity keys",
        refresh_s: float = 60.0,
        cooldown_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sources = list(sources)
        self.what = what
        self.refresh_s = refresh_s
        self.cooldown_s = cooldown_s
        self.retry_s = min(cooldown_s, 1.0) if cooldown_s > 0 else 1.0
        self.clock = clock
        self._keys: dict[str, SignerKey] | None = None
        self._loaded_at = float("-inf")
        self._reading = asyncio.Lock()

    def _since(self) -> float:
        return self.clock() - self._loaded_at

    async def fresh(self) -> None:
        """Re-read the keys if it is time to (or nothing is held yet); a 503 if nothing can be held."""
        await self._reload_if(
            lambda: self._since() >= self.refresh_s or (self._keys is None and self._since() >= self.retry_s)
        )
        if self._keys is None and self._reading.locked():
            async with self._reading:  # the first read is in flight: its outcome is this request's too
                pass
        if self._keys is None:
            retry = max(1, int(self.retry_s - self._since() + 0.999))
            raise ProblemError("service-unavailable", f"{self.what} cannot be read", retry_after=retry)

    async def find(self, kid: str) -> SignerKey:
        """The key published under ``kid`` (read again if unknown and the cool-down allows), or
        :class:`TokenRefused`."""
        asked = self.clock()
        await self._reload_if(
            lambda: kid not in (self._keys or {}) and self._since() >= self.cooldown_s and self._loaded_at < asked
        )
        found = (self._keys or {}).get(kid)
        if found is None:
            raise TokenRefused("the token's key is not published")
        return found

    def holds(self, kid: str) -> bool:
        """Whether ``kid`` is among the keys held now (no read)."""
        return kid in (self._keys or {})

    async def _reload_if(self, stale: Callable[[], bool]) -> None:
        if stale():
            async with self._reading:
                if stale():
                    await self.reload()

    async def reload(self) -> None:
        """Read every source now; on failure keep what is held."""
        self._loaded_at = self.clock()
        try:
            keys: dict[str, SignerKey] = {}
            for source in self.sources:
                keys.update(await source.load())
        except (RedisError, OSError, ValueError, JoseError, KeysUnreadable) as exc:
            log.warning("%s could not be read (%s); keeping the ones held", self.what, exc)
            return
        self._keys = keys


class _Verified(msgspec.Struct, frozen=True):
    identity: Identity
    exp: int
    kid: str


class Verifier:
    """Verifies identity tokens against the published keys; see the module docstring for every rule."""

    def __init__(
        self,
        sources: Sequence[KeySource],
        *,
        issuer: str = DEFAULT_ISSUER,
        edge_signers: frozenset[str] = EDGE_SIGNERS,
        leeway_s: int = 30,
        max_ttl_s: int = 900,
        refresh_s: float = 60.0,
        cooldown_s: float = 0.0,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = PublishedKeys(sources, refresh_s=refresh_s, cooldown_s=cooldown_s, clock=clock)
        self.issuer = issuer
        self.edge_signers = edge_signers
        self.leeway_s = leeway_s
        self.max_ttl_s = max_ttl_s
        self.clock = clock
        self._verified: LRUCache[str, _Verified] = LRUCache(cache_size)

    async def verify(self, token: str | None) -> Identity:
        """The identity ``token`` carries, or a 401 problem (a 503 if no key could ever be read)."""
        if not token:
            raise missing()
        now = self.clock()
        await self.keys.fresh()
        hit = self._verified.get(token)
        if hit is not None:
            if now < hit.exp + self.leeway_s and self.keys.holds(hit.kid):
                return hit.identity
            self._verified.pop(token, None)
        try:
            found = await self._check(token, now)
        except TokenRefused as exc:
            raise refused(str(exc)) from exc
        self._verified[token] = found
        return found.identity

    async def reload(self) -> None:
        """Re-read the published keys now."""
        await self.keys.reload()

    async def _check(self, token: str, now: float) -> _Verified:
        obj = extract(token)
        header = obj.headers()
        kid = check_header(header, algorithms=ALGORITHMS, types=(TOKEN_TYPE,))
        signer_key = await self.keys.find(kid)
        check_signature(obj, header["alg"], signer_key.key)
        claims = _claims(obj.payload)
        self._check_claims(claims, now)
        identity = _identity(claims, signer_key.signer, self.edge_signers)
        return _Verified(identity, claims.exp, kid)

    def _check_claims(self, claims: Claims, now: float) -> None:
        if claims.iss != self.issuer:
            raise TokenRefused("the token has another issuer")
        check_audience(claims.aud, AUDIENCE)
        check_times(now, self.leeway_s, exp=claims.exp, nbf=claims.nbf, iat=claims.iat)
        if claims.exp - claims.iat > self.max_ttl_s:
            raise TokenRefused("the token's lifetime is not one we issue")


# --- The checks every bearer-token verifier shares (they raise TokenRefused) ------------------------------------

# The only header parameters a token may carry: anything else (jku, x5u, jwk, x5c, crit, b64...) would choose a key
# or change how the signature is read.
HEADER_NAMES = frozenset({"alg", "kid", "typ"})


def extract(token: str) -> jws.CompactSignature:
    """The parts of a compact JWS (RFC 7515 §7.1), not yet verified; bounded in size."""
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenRefused("the token is too large")
    try:
        return jws.extract_compact(token.encode())
    except (JoseError, ValueError, UnicodeError) as exc:
        raise TokenRefused("the token is not a compact JWS") from exc


def media_type(typ: str) -> str:
    """A ``typ`` value compared as RFC 7515 §4.1.9 says: case-insensitive, ``application/`` optional."""
    lowered = typ.lower()
    return lowered.removeprefix("application/")


def check_header(
    header: Mapping[str, Any],
    *,
    algorithms: Collection[str],
    types: Collection[str],
    names: frozenset[str] = HEADER_NAMES,
) -> str:
    """The ``kid`` of a header that names only what we accept: ``alg`` one of ``algorithms``, ``typ`` one of
    ``types`` (compared by :func:`media_type`; no ``types`` = ``typ`` is not checked), no parameter beyond
    ``names``."""
    extra = set(header) - names
    if extra:
        raise TokenRefused(f"the token's header may not carry {', '.join(sorted(extra))}")
    if header.get("alg") not in algorithms:
        raise TokenRefused(f"the token's algorithm must be one of {', '.join(algorithms)}")
    typ = header.get("typ")
    if types and not (isinstance(typ, str) and media_type(typ) in {media_type(t) for t in types}):
        raise TokenRefused(f"the token's typ must be {' or '.join(types)}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenRefused("the token names no kid")
    return kid


def check_signature(obj: jws.CompactSignature, alg: str, key: Key) -> None:
    """The signature verifies with ``key`` under ``alg``, and ``alg`` is the one algorithm the key signs with."""
    try:
        fits = algorithm_of(key) == alg
    except ValueError:
        fits = False
    if not fits:
        raise TokenRefused("the token's algorithm does not fit its key")
    try:
        valid = jws.validate_compact(obj, key, algorithms=[alg])
    except JoseError as exc:
        raise TokenRefused("the token's signature does not verify") from exc
    if not valid:
        raise TokenRefused("the token's signature does not verify")


def check_audience(aud: str | Sequence[str], expected: str) -> None:
    """RFC 7519 §4.1.3: ``aud`` is a string or an array, and holds ``expected``."""
    audiences = [aud] if isinstance(aud, str) else list(aud)
    if expected not in audiences:
        raise TokenRefused(f"the token is not for {expected}")


def check_times(now: float, leeway_s: float, *, exp: int, nbf: int | None = None, iat: int | None = None) -> None:
    """RFC 7519 §4.1.4-6 against one clock (epoch seconds) with ``leeway_s`` of skew either way."""
    if now >= exp + leeway_s:
        raise TokenRefused("the token has expired")
    if nbf is not None and now + leeway_s < nbf:
        raise TokenRefused("the token is not valid yet")
    if iat is not None and now + leeway_s < iat:
        raise TokenRefused("the token's lifetime is not one we issue: issued in the future")


def _claims(payload: bytes | None) -> Claims:
    try:
        return msgspec.json.decode(payload or b"", type=Claims)
    except msgspec.DecodeError as exc:
        raise TokenRefused(f"the token's claims are not valid: {exc}") from exc


def _identity(claims: Claims, signer: str, edge_signers: frozenset[str]) -> Identity:
    try:
        identity = msgspec.convert(
            {
                "sub": claims.sub,
                "channel": claims.channel,
                "customer_id": claims.customer_id,
                "partner_id": claims.partner_id,
                "service": claims.service,
                "scopes": claims.scope.split(),
            },
            Identity,
        )
    except msgspec.ValidationError as exc:
        raise TokenRefused(f"the token's claims are not valid: {exc}") from exc
    if signer not in edge_signers and (identity.channel != "internal" or identity.service != signer):
        raise TokenRefused(f"a key of {signer} signs only {signer}'s own service identity")
    return identity
