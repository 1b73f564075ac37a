"""One request through the gateway, as its policies see it: which route it took, who the caller is, what the
limits said and which headers the answer must carry.

The gateway's edge (gateway/edge.py) opens an :class:`Exchange` for every request and passes it down the
forwarding pipeline; authentication, the limits and the forwarding fill it in, and the access log writes it out
as one line once the answer has gone. A refusal raised by a policy carries the same collected headers and makes
the same log line as a forwarded answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.access import Caller
from gateway.ratelimit import Decision
from gateway.routing import Route


@dataclass(slots=True)
class Exchange:
    """What the gateway learnt about one request; ``consumer`` is ``-`` until a credential was accepted."""

    route: Route | None = None
    caller: Caller | None = None
    consumer: str = "-"
    limit: str = "-"  # ok | refused | unlimited (counters unreachable, route open) | unavailable (closed) | -
    decisions: list[Decision] = field(default_factory=list)  # every limit counted, in order
    headers: dict[str, str] = field(default_factory=dict)  # added to the answer, refusals included
