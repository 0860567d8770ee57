"""The saga styles as objects, and their registry: the harness and the chapters look a style up here.

    style = ob.styles.get("choreographed")      # the class
    saga = style.deploy(deployment)             # one deployed saga (an instance)
    saga.request(trip); saga.wait_final([trip["trip_id"]])

A new style is one new module with a Style subclass, plus its line in ALL below.
"""

from __future__ import annotations

from ocbook.styles.base import SERVICES, Style
from ocbook.styles.choreographed import Choreographed
from ocbook.styles.durable import Durable
from ocbook.styles.orchestrated import Orchestrated

ALL: dict[str, type[Style]] = {style.name: style for style in (
    Orchestrated,
    Choreographed,
    Durable,
)}


def get(name: str) -> type[Style]:
    """The style registered under a name; an unknown name says which exist."""
    try:
        return ALL[name]
    except KeyError:
        raise ValueError(f"no saga style {name!r}: use one of {', '.join(ALL)}") from None


def names() -> tuple[str, ...]:
    """The registered styles' names, in registry order."""
    return tuple(ALL)


def units() -> tuple[str, ...]:
    """Every work unit any style counts, sorted (a column each in the harness's tables)."""
    return tuple(sorted({unit for style in ALL.values() for unit in style.units}))


__all__ = ["ALL", "SERVICES", "Choreographed", "Durable", "Orchestrated", "Style", "get", "names", "units"]
