"""Per-request correlation: request id and W3C trace context, carried in contextvars.

The service factory sets them for every inbound request; shared.http copies them onto every outbound hop;
the JSON log formatter writes them on every line. Nothing else needs to pass them around by hand.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

REQUEST_ID_HEADER = "x-request-id"
TRACEPARENT_HEADER = "traceparent"

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id_var: ContextVar[str | None] = ContextVar("omnigate_request_id", default=None)
trace_id_var: ContextVar[str | None] = ContextVar("omnigate_trace_id", default=None)
span_id_var: ContextVar[str | None] = ContextVar("omnigate_span_id", default=None)
trace_flags_var: ContextVar[str] = ContextVar("omnigate_trace_flags", default="01")


def new_request_id() -> str:
    return os.urandom(12).hex()


def accept_request_id(value: str | None) -> str:
    """Keep a caller's id when it is safe to log and echo; otherwise mint one."""
    if value and _REQUEST_ID.match(value):
        return value
    return new_request_id()


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """Return (trace_id, flags) of a valid version-00 traceparent, else None (W3C says: restart the trace)."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if not match:
        return None
    trace_id, parent_id, flags = match.groups()
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return trace_id, flags


def begin(request_id_header: str | None, traceparent_header: str | None) -> tuple[str, str]:
    """Start the context of one inbound request; returns (request_id, traceparent to answer with)."""
    request_id = accept_request_id(request_id_header)
    parsed = parse_traceparent(traceparent_header)
    trace_id, flags = parsed if parsed else (os.urandom(16).hex(), "01")
    span_id = os.urandom(8).hex()
    request_id_var.set(request_id)
    trace_id_var.set(trace_id)
    span_id_var.set(span_id)
    trace_flags_var.set(flags)
    return request_id, f"00-{trace_id}-{span_id}-{flags}"


def outbound_headers() -> dict[str, str]:
    """Headers that carry the current request's correlation onto a hop (a child span per hop)."""
    headers: dict[str, str] = {}
    request_id = request_id_var.get()
    if request_id:
        headers["X-Request-ID"] = request_id
    trace_id = trace_id_var.get()
    if trace_id:
        headers["traceparent"] = f"00-{trace_id}-{os.urandom(8).hex()}-{trace_flags_var.get()}"
    return headers
