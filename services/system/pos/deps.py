"""The collaborators of system-pos, built once by app.py's lifespan and provided to handlers by type."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State
from litestar.di import Provide

from services.system.pos.connector import SquareConnector
from services.system.pos.pickups import Pickups, StoreReturns
from shared.events import EventBus


@dataclass(frozen=True, slots=True)
class Parts:
    pos: SquareConnector
    pickups: Pickups
    store_returns: StoreReturns
    bus: EventBus


def parts(state: State) -> Parts:
    found: Parts = state.pos_parts
    return found


def pos(state: State) -> SquareConnector:
    return parts(state).pos


def pickups(state: State) -> Pickups:
    return parts(state).pickups


def store_returns(state: State) -> StoreReturns:
    return parts(state).store_returns


def bus(state: State) -> EventBus:
    return parts(state).bus


DEPENDENCIES = {fn.__name__: Provide(fn, sync_to_thread=False) for fn in (pos, pickups, store_returns, bus)}
