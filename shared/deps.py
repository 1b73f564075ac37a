"""Dependency injection for every deployable: its collaborators, provided to handlers by name and type.

A deployable builds its collaborators once, in its app.py lifespan, into one frozen dataclass (its ``Parts``)
kept in the application's state. Its ``deps.py`` declares ``WIRING = Wiring("<state key>", Parts)``: app.py keeps
the parts with ``WIRING.keep(app.state, Parts(...))`` and reads them back with ``WIRING.of(app.state)`` (checked,
typed); ``WIRING.dependencies`` gives one Litestar ``Provide`` per field, so a handler declares
``store: NamedDependency[Store]`` and never reaches into the state itself.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar

from litestar.datastructures import State
from litestar.di import Provide

P = TypeVar("P")


class Wiring(Generic[P]):
    """Where a deployable keeps its ``Parts`` (a dataclass) in the application state, and how handlers get them."""

    def __init__(self, state_key: str, parts: type[P]) -> None:
        if not dataclasses.is_dataclass(parts):
            raise TypeError(f"{parts.__name__} must be a dataclass of collaborators")
        self.state_key = state_key
        self.parts = parts
        self.dependencies = {field.name: self._provider(field.name) for field in dataclasses.fields(parts)}

    def keep(self, state: State, parts: P) -> None:
        state[self.state_key] = parts

    def of(self, state: State) -> P:
        found = state[self.state_key]
        if not isinstance(found, self.parts):
            raise TypeError(f"app.state.{self.state_key} holds {type(found).__name__}, not {self.parts.__name__}")
        return found

    def _provider(self, name: str) -> Provide:
        state_key = self.state_key

        def collaborator(state: State) -> Any:
            return getattr(state[state_key], name)

        collaborator.__name__ = name
        return Provide(collaborator, sync_to_thread=False)
