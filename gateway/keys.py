"""The gateway's Redis keys, all under ``<prefix>omnigate.gateway:`` in the state Redis."""

from __future__ import annotations


class Keys:
    def __init__(self, prefix: str) -> None:
        self.base = f"{prefix}omnigate.gateway:"
        # JSON: the signing key set (current private JWK + retired ones with their retirement time); see signing.py
        self.signing_keys = self.base + "signing-keys"
        self.clients = self.base + "clients"  # set: every OAuth client id

    def client(self, client_id: str) -> str:
        """JSON: one OAuth client (name, scopes, partner, HMAC of its secret); see clients.py."""
        return f"{self.base}client:{client_id}"
