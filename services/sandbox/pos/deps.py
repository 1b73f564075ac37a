"""What sandbox-pos's handlers receive: the sandbox kit's collaborators (common/deps.py), typed with this
back-end's own settings, so the credentials and webhook URL it reads are checked names."""

from __future__ import annotations

from typing import TypeAlias

from services.sandbox.common.deps import Sandbox
from services.sandbox.pos.settings import SandboxPosSettings

PosSandbox: TypeAlias = Sandbox[SandboxPosSettings]
