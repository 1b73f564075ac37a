"""Dependency injection for every deployable: its collaborators, provided to handlers by name and type.

A deployable builds its collaborators once, in its app.py lifespan, into one frozen dataclass (its ``Parts``)
kept in the application's state; :func:`provide` turns every field of that dataclass into a Litestar
``Provide``, so a handler declares ``store: NamedDependency[Store]`` and never reaches into the state itself.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from litestar.datastructures import State
from litestar.di import Provide


def provide(state_key: str, parts: type[Any]) -> dict[str, Provide]:
    """One ``Provide`` per field of the dataclass ``parts`` kept at ``app.state.<state_key>``."""

    def provider(name: str) -> Provide:
        def collaborator(state: State) -> Any:
            return getattr(state[state_key], name)

        collaborator.__name__ = name
        return Provide(collaborator, sync_to_thread=False)

    return {field.name: provider(field.name) for field in dataclasses.fields(parts)}
