"""The gateway's Redis keys, all under ``<prefix>omnigate.gateway:`` in the state Redis. Its signing keys are a
kernel key ring (shared/signing.py, signer ``gateway``), named by the kernel."""

from __future__ import annotations


class Keys:
    def __init__(self, prefix: str) -> None:
        self.base = f"{prefix}omnigate.gateway:"
        self.clients = self.base + "clients"  # set: every OAuth client id

    def client(self, client_id: str) -> str:
        """JSON: one OAuth client (name, scopes, partner, HMAC of its secret); see clients.py."""
        return f"{self.base}client:{client_id}"
