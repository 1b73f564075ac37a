"""system-pos's Redis keys (besides the kernel's id maps and locks): what it remembers per reference."""

from __future__ import annotations


class Keys:
    def __init__(self, prefix: str) -> None:
        self.base = f"{prefix}omnigate.pos:"

    def pickup(self, ref: str) -> str:
        """Hash: the request a pickup ref stands for, its Square order, its till hold (see pickups.py)."""
        return f"{self.base}pickup:{ref}"

    def store_return(self, ref: str) -> str:
        """Hash: the request a counter-return ref stands for, its restock time and its Square order."""
        return f"{self.base}return:{ref}"
