"""The collaborators of process-availability, built once by app.py's lifespan and provided to handlers by type.

Handlers declare what they need (``atp: NamedDependency[AtpReader]``); one ``Provide`` per collaborator reads it
from the one typed :class:`Parts` the lifespan put in the application's state. Only this module and app.py reach
into that state.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.process.availability.atp import AtpReader
from services.process.availability.prices import Prices
from services.process.availability.reconcile import Reconciler
from services.process.availability.reservations import Reservations
from services.process.availability.rounds import Rounds
from services.process.availability.stores import Locations
from shared.deps import Wiring


@dataclass(frozen=True, slots=True)
class Parts:
    atp: AtpReader
    locations: Locations
    reservations: Reservations
    prices: Prices
    reconciler: Reconciler
    rounds: Rounds


WIRING = Wiring("availability", Parts)
