"""Every error a sandbox answers on its vendor's API, in that vendor's documented shape and status.

A vendor's client (Square's SDK, an Odoo integration) parses its vendor's error envelope and nothing else, so a
reference back-end that answered the framework's own errors (no such route, wrong method, a body too large or
unreadable, a parameter that does not validate, a bug) as problem+json would break the client exactly where it
should show an error. Each sandbox therefore passes one :data:`Renderer`: a function from a
:class:`VendorError` (status, what went wrong, a message, the field at fault) to its vendor's body and media type.
:func:`exception_handlers` renders every exception that leaves a vendor route through it, and the fault injector
(faults.py) renders its injected 500/504 answers through the same function.

The sandbox's own operator surface is Omnigate's, not the vendor's: ``/_faults``, ``/_stats``, ``/_sim/*``,
``/_webhooks``, the probes and ``/schema`` (:data:`OPERATOR_PREFIXES`) keep the kernel's RFC 9457 problem+json,
as every Omnigate service does.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

import msgspec
from litestar import Litestar, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse
from litestar.types import ExceptionHandlersMap

from shared import context
from shared.problems import MEDIA_TYPE
from shared.service import kernel_error_response

log = logging.getLogger("omnigate.sandbox")

# Paths that are the sandbox's own controls or probes (Omnigate's surface): never faulted, counted or answered in
# the vendor's shape.
OPERATOR_PREFIXES = ("/_", "/healthz", "/readyz", "/metrics", "/schema")

Reason = Literal[
    "not_found",  # no such route (404)
    "method_not_allowed",  # the route exists, not with this method (405, with Allow)
    "unreadable_body",  # the body is not what the route reads (400)
    "invalid_value",  # a parameter or field does not validate (400; ``field`` names it)
    "too_large",  # the body is larger than the sandbox accepts (413)
    "unsupported_media_type",  # 415
    "unauthorized",  # 401
    "forbidden",  # 403
    "rejected",  # any other 4xx the framework raised
    "internal",  # a bug or an injected 500
    "unavailable",  # 503
    "timeout",  # 504: the back-end dropped a request it could not start in time (faults.py)
]

_REASONS: dict[int, Reason] = {
    400: "unreadable_body",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    500: "internal",
    503: "unavailable",
    504: "timeout",
}


class VendorError(msgspec.Struct, frozen=True, kw_only=True):
    """What went wrong, vendor-neutral: ``status`` (HTTP), ``reason``, a human ``message`` and, for a value that
    did not validate, the ``field`` at fault (dotted path, e.g. ``order.location_id``)."""

    status: int
    reason: Reason
    message: str
    field: str | None = None


# (error) -> (body, media type): the one per-sandbox hook. Square: {"errors": [{category, code, detail, field}]};
# Odoo JSON-2: {name, message, arguments, context, debug}; the 3PL: its own documented shape.
Renderer = Callable[[VendorError], tuple[bytes, str]]
_MISSING = re.compile(r"missing required field `([^`]+)`")
_PATH = re.compile(r"at `\$\.?([^`]*)`")


def field_of(message: str) -> tuple[str | None, bool]:
    """The field a msgspec validation message names (``Expected `str`, got `int` - at `$.order.id```:
    ``order.id``; a missing field is named in full), and whether it is missing rather than invalid."""
    path = _PATH.search(message)
    missing = _MISSING.search(message)
    field = (path.group(1) if path else "") or None
    if missing:
        return (f"{field}.{missing.group(1)}" if field else missing.group(1)), True
    return field, False


def reason_of(status: int) -> Reason:
    if status in _REASONS:
        return _REASONS[status]
    return "rejected" if status < 500 else "internal"


def is_operator_path(path: str) -> bool:
    return path.startswith(OPERATOR_PREFIXES)


def respond(render: Renderer, error: VendorError, headers: Mapping[str, str] | None = None) -> Response[bytes]:
    body, media_type = render(error)
    return Response(content=body, status_code=error.status, media_type=media_type, headers=dict(headers or {}))


def of_http_exception(method: str, path: str, exc: HTTPException) -> VendorError:
    """The vendor-neutral error of a framework exception: its status, reason, a message that names the request,
    and the field a validation error names (Litestar's ``extra`` entries carry it as ``key``)."""
    status = exc.status_code
    reason = reason_of(status)
    message = exc.detail or reason.replace("_", " ")
    field = None
    if reason == "not_found":
        message = f"{method} {path} is not an endpoint of this API"
    elif reason == "method_not_allowed":
        allowed = (exc.headers or {}).get("allow", "")
        message = f"{method} is not allowed on {path}" + (f" (allowed: {allowed})" if allowed else "")
    elif isinstance(exc, ValidationException):
        if isinstance(exc.__cause__, msgspec.DecodeError) and not isinstance(exc.__cause__, msgspec.ValidationError):
            return VendorError(
                status=status, reason="unreadable_body", message=f"the body is not JSON: {exc.__cause__}"
            )
        reason = "invalid_value"
        entries = [e for e in exc.extra if isinstance(e, dict)] if isinstance(exc.extra, list) else []
        if entries:
            field = str(entries[0].get("key") or "") or field_of(str(entries[0].get("message", "")))[0]
    return VendorError(status=status, reason=reason, message=message, field=field)


def exception_handlers(render: Renderer) -> ExceptionHandlersMap:
    """Litestar exception handlers that answer every error of the vendor's routes through ``render``; operator
    paths get the kernel's problem+json. A framework 5xx and any unexpected exception are logged as the kernel
    logs them (a bug shows as a traceback in the sandbox's log, which the test estate scans)."""

    def on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
        path = request.url.path
        if is_operator_path(path):
            return kernel_error_response(request, exc)
        if exc.status_code >= 500:
            log.error("framework error %s on %s %s: %s", exc.status_code, request.method, path, exc.detail)
        return respond(render, of_http_exception(request.method, path, exc), exc.headers)

    def on_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
        path = request.url.path
        if is_operator_path(path):
            return kernel_error_response(request, exc)
        log.error("unhandled exception on %s %s", request.method, path, exc_info=exc)
        message = f"An internal error has occurred; it has been logged with request id {context.request_id_var.get()}."
        return respond(render, VendorError(status=500, reason="internal", message=message))

    return {HTTPException: on_http_exception, Exception: on_exception}


def document(app: Litestar, render: Renderer) -> None:
    """Document the framework's error answers of the vendor routes as what they are: the vendor's error body (an
    example rendered by ``render``), not the kernel's problem+json; the operator routes keep theirs."""
    for path, item in (app.openapi_schema.paths or {}).items():
        if is_operator_path(path):
            continue
        for operation in (item.get, item.put, item.post, item.delete, item.patch):
            for status, response in ((operation.responses or {}) if operation else {}).items():
                if isinstance(response, OpenAPIResponse) and MEDIA_TYPE in (response.content or {}):
                    code = int(status)
                    sample = VendorError(status=code, reason=reason_of(code), message="what went wrong")
                    body, media_type = render(sample)
                    response.content = {media_type: OpenAPIMediaType(example=msgspec.json.decode(body))}
                    response.description = "An error, in the vendor's documented error shape"
