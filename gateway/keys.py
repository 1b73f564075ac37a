"""The gateway's Redis keys, all under ``<prefix>omnigate.gateway:`` in the state Redis. Its signing keys are a
kernel key ring (shared/signing.py, signer ``gateway``), named by the kernel."""

from __future__ import annotations


class Keys:
    def __init__(self, prefix: str) -> None:
        self.base = f"{prefix}omnigate.gateway:"
        self.clients = self.base + "clients"  # set: every OAuth client id
        # The rate limits' moving windows (gateway/ratelimit.py): the `limits` library names its keys under this.
        self.ratelimit = self.base + "ratelimit"

    def client(self, client_id: str) -> str:
        """JSON: one OAuth client (name, scopes, partner, plan, HMAC of its secret); see clients.py."""
        return f"{self.base}client:{client_id}"

    def partner_key(self, key_id: str) -> str:
        """Hash: one partner API key (partner_id, plan, state, created_ms, secret_hmac); see partners.py."""
        return f"{self.base}partner-key:{key_id}"

    def partner_keys(self, partner_id: str) -> str:
        """Set: every key id a partner was ever given (live and revoked), for ``omnigate partners list``."""
        return f"{self.base}partner:{partner_id}:keys"

    def partner_live(self, partner_id: str) -> str:
        """Hash: the partner's live (active) key ids -> their plan, at most two (rotation); see partner_issue.lua."""
        return f"{self.base}partner:{partner_id}:live"
