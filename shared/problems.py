"""RFC 9457 problem details: the one error shape of every Omnigate API.

Problem types are a closed catalogue (``CATALOGUE``) so that integrators can switch on ``type``; each is
documented in docs/problems.md. Raise :class:`ProblemError` anywhere in a handler; the service factory
renders it, and renders the framework's own errors (404, 405, validation, oversized bodies) the same way.
"""

from __future__ import annotations

from typing import Any

import msgspec

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://omnigate.dev/problems/"


class Problem(msgspec.Struct, omit_defaults=True, kw_only=True):
    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    # Extension members (RFC 9457 §3.2): upstream name, offending fields, lines...
    upstream: str | None = None
    errors: list[dict[str, Any]] | None = None
    retry_after: int | None = None


# slug -> (status, title). Titles are stable; details vary per occurrence.
CATALOGUE: dict[str, tuple[int, str]] = {
    "invalid-request": (400, "The request is not valid"),
    "unauthorized": (401, "Authentication is required"),
    "invalid-signature": (401, "The webhook signature does not match"),
    "forbidden": (403, "Not allowed"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "not-acceptable": (406, "Not acceptable"),
    "conflict": (409, "Conflict"),
    "insufficient-stock": (409, "Not enough stock"),
    "request-in-flight": (409, "A request with this Idempotency-Key is still being processed"),
    "reservation-expired": (410, "The reservation has expired"),
    "payload-too-large": (413, "The request body is too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "unprocessable": (422, "The request cannot be processed"),
    "idempotency-key-reused": (422, "The Idempotency-Key was used with a different request"),
    "too-many-requests": (429, "Too many requests"),
    "internal-error": (500, "Internal error"),
    "upstream-error": (502, "An upstream system answered with an error"),
    "upstream-unavailable": (503, "An upstream system is unavailable"),
    "upstream-timeout": (504, "An upstream system did not answer in time"),
    "service-unavailable": (503, "The service is unavailable"),
}

STATUS_SLUGS: dict[int, str] = {
    400: "invalid-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "unprocessable",
    429: "too-many-requests",
    500: "internal-error",
    502: "upstream-error",
    503: "service-unavailable",
    504: "upstream-timeout",
}


def type_uri(slug: str) -> str:
    return TYPE_BASE + slug


class ProblemError(Exception):
    """An expected failure that the caller should see as problem+json.

    Only for failures we understand; an unexpected exception must stay an exception (and a 500).
    """

    def __init__(
        self,
        slug: str,
        detail: str | None = None,
        *,
        status: int | None = None,
        upstream: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
        in_doubt: bool | None = None,
    ) -> None:
        if slug not in CATALOGUE:
            raise ValueError(f"unknown problem type {slug!r}: add it to the catalogue")
        default_status, self.title = CATALOGUE[slug]
        self.slug = slug
        self.status = status or default_status
        self.detail = detail
        self.upstream = upstream
        self.errors = errors
        self.retry_after = retry_after
        self.headers = dict(headers or {})
        # Whether what failed may still have happened at the other end (DESIGN §4, "Unknown outcomes"): a
        # refusal (4xx) did not; a 5xx may have, unless the raiser knows the call never left.
        self.in_doubt = self.status >= 500 if in_doubt is None else in_doubt
        if retry_after is not None:
            self.headers.setdefault("Retry-After", str(retry_after))
        super().__init__(detail or self.title)

    def to_problem(self, *, instance: str | None = None, request_id: str | None = None) -> Problem:
        return Problem(
            type=type_uri(self.slug),
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            request_id=request_id,
            upstream=self.upstream,
            errors=self.errors,
            retry_after=self.retry_after,
        )


def not_found(what: str) -> ProblemError:
    return ProblemError("not-found", f"{what} does not exist")


def invalid(detail: str, *, errors: list[dict[str, Any]] | None = None) -> ProblemError:
    return ProblemError("invalid-request", detail, errors=errors)
