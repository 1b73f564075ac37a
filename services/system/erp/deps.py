"""The collaborators of system-erp, built once by app.py's lifespan and provided to handlers by type."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State
from litestar.di import Provide

from services.system.erp.connector import OdooConnector
from services.system.erp.price_feed import PriceFeed


@dataclass(frozen=True, slots=True)
class Parts:
    erp: OdooConnector
    price_feed: PriceFeed


def parts(state: State) -> Parts:
    found: Parts = state.erp_parts
    return found


def erp(state: State) -> OdooConnector:
    return parts(state).erp


DEPENDENCIES = {"erp": Provide(erp, sync_to_thread=False)}
