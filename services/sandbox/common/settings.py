"""What every sandbox back-end reads besides the kernel's settings: the seed of its deterministic catalogue.

Each sandbox's own ``settings.py`` extends this with the credentials it checks and the webhooks it sends.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from shared.settings import Settings


class SandboxSettings(Settings, kw_only=True, frozen=True):
    # Deterministic by seed, size configurable (tests use a small one).
    seed: Annotated[int, Meta(description="Seed of the sandboxes' deterministic catalogue.")] = 42
    seed_skus: Annotated[int, Meta(description="SKUs in the sandboxes' catalogue.")] = 5000
    seed_stores: Annotated[int, Meta(description="Stores in the sandboxes' catalogue.")] = 40
    seed_dcs: Annotated[int, Meta(description="Distribution centres in the sandboxes' catalogue.")] = 2
