"""The internal identity the gateway sends below for each caller, in place of the caller's own credential.

DESIGN §5: the gateway never forwards a caller's token or key. It mints a short-lived ``X-Omnigate-Identity``
(shared/identity.py) naming the caller (``sub``, channel, customer or partner id, scopes), once per caller, and
hands the same token out again until it is near expiry: the kernel's :class:`~shared.identity.Minter` keeps them
in a bounded LRU, so no request signs anything on the hot path.

The signing key is the gateway's current key (its kernel key ring, signer ``gateway``, published for the layers
below). A rotation (``omnigate keys rotate``, from any host) is picked up within ``refresh_s`` by every worker:
until then a worker still signs with the previous key, which stays published for the layers below until every
token it signed has expired. While the state Redis cannot be read, a worker goes on signing with the key it holds
(asking again every ``refresh_s``): a read served unlimited while the counters are away (gateway/limiting.py)
must not turn into a 503 the moment the next rotation check falls due; only a worker that never read the ring
has nothing to sign with (503, as any request needing the state Redis).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shared.identity import Identity, Minter
from shared.outage import REDIS_DOWN
from shared.signing import KeyRing

log = logging.getLogger("omnigate.gateway.identities")


class CallerIdentities:
    """``await token(identity)``: the identity token of a caller, minted with the gateway's current key."""

    def __init__(
        self,
        ring: KeyRing,
        *,
        ttl_s: int = 300,
        refresh_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ring = ring
        self.ttl_s = ttl_s
        self.refresh_s = refresh_s
        self.clock = clock
        self._minter: Minter | None = None
        self._kid: str | None = None
        self._next_check = 0.0

    async def token(self, identity: Identity) -> str:
        minter = self._minter
        if minter is None or self.clock() >= self._next_check:
            minter = await self._follow_rotation()
        return minter.mint(identity)

    async def _follow_rotation(self) -> Minter:
        try:
            keys = await self.ring.current()
        except REDIS_DOWN as exc:
            if self._minter is None:
                raise
            self._next_check = self.clock() + self.refresh_s
            log.warning("the signing key ring cannot be read (%s); signing with the key held (%s)", exc, self._kid)
            return self._minter
        if self._minter is None or keys.current.kid != self._kid:
            self._minter = Minter(keys.current, ttl_s=self.ttl_s, renew_s=min(60, self.ttl_s // 2))
            self._kid = keys.current.kid
        self._next_check = self.clock() + self.refresh_s
        return self._minter
