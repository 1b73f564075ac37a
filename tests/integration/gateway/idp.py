"""A tiny standalone identity provider for the gateway's external-issuer tests, run as its own process
(``python -m tests.integration.gateway.idp --port N``), never imported by a test: the gateway must reach it over
HTTP as it would reach Keycloak or Auth0.

It makes its own RS256 key at start and serves what the gateway reads (``GET /.well-known/jwks.json``, its current
and previous keys, as IdPs publish during a rotation), plus test-only controls: ``POST /_mint`` signs the claims
(and header parameters) it is given with its current key, ``POST /_rotate`` makes a new current key, ``GET /_hits``
says how often the JWKS was fetched, ``GET /healthz``. Standard library HTTP server: no framework to keep in step.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jws
from joserfc.jwk import Key, RSAKey


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: list[Key] = [self.new_key()]
        self.jwks_hits = 0

    @staticmethod
    def new_key() -> Key:
        return RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)

    def jwks(self) -> dict[str, Any]:
        with self.lock:
            self.jwks_hits += 1
            return {"keys": [dict(key.as_dict(private=False)) for key in self.keys[:2]]}

    def mint(self, claims: dict[str, Any], header: dict[str, Any]) -> str:
        with self.lock:
            key = self.keys[0]
        protected = {"alg": "RS256", "typ": "JWT", "kid": key.kid, **header}
        return jws.serialize_compact(protected, json.dumps(claims).encode(), key, algorithms=["RS256"])

    def rotate(self) -> str:
        new = self.new_key()
        with self.lock:
            self.keys.insert(0, new)
        return str(new.kid)


STATE = State()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/.well-known/jwks.json":
            self.answer(STATE.jwks())
        elif self.path == "/_hits":
            self.answer({"jwks": STATE.jwks_hits})
        elif self.path == "/healthz":
            self.answer({"status": "ok", "kid": STATE.keys[0].kid})
        else:
            self.answer({"error": "not found"}, 404)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        if self.path == "/_mint":
            self.answer({"token": STATE.mint(body["claims"], body.get("header", {}))})
        elif self.path == "/_rotate":
            self.answer({"kid": STATE.rotate()})
        else:
            self.answer({"error": "not found"}, 404)

    def answer(self, body: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None  # quiet: the tests read /_hits, not a log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
