"""JSON log lines, one object per line, carrying the service name and the request's correlation ids.

Tracebacks go in the ``exc`` member, so a log scan for ``Traceback`` finds every unexpected exception.
"""

from __future__ import annotations

import logging
import sys
import time

import msgspec

from shared import context

_encoder = msgspec.json.Encoder()


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = context.request_id_var.get()
        if request_id:
            line["request_id"] = request_id
            line["trace_id"] = context.trace_id_var.get()
        extra = getattr(record, "data", None)
        if isinstance(extra, dict):
            line.update(extra)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return _encoder.encode(line).decode()


def configure(service: str, level: str = "INFO") -> None:
    """Route every logger (ours, Litestar's, granian's) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    # Replace plain stream handlers (and an earlier JSON one); keep others, e.g. a test runner's capture.
    root.handlers[:] = [h for h in root.handlers if type(h) is not logging.StreamHandler] + [handler]
    root.setLevel(level.upper())
    # httpx logs every request at INFO; hops would drown the log (DESIGN §9).
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def granian_config(service: str, level: str = "INFO") -> dict[str, object]:
    """A logging dictConfig for granian's own loggers, so the server's lines are JSON like ours."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "shared.logs.JsonFormatter", "service": service}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "_granian": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "granian.access": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }
