"""Coupling, measured from the templates: what adding one step changes in each style's SAM template.

Each style's template is generated with and without the step and the two are compared resource by resource;
files a template refers to (the state machine's .asl.json) are read in place of their names, so a changed
definition counts as a change of the resource that holds it.
"""

from __future__ import annotations

import json
import re

import pandas as pd

from ocbook import styles
from ocbook.styles import SERVICES

COLUMNS = ["style", "resource", "type", "owner", "change", "properties", "where", "other_service"]


def resolved(style: type[styles.Style], steps: tuple[str, ...]) -> dict[str, dict]:
    """The template's resources with each companion file's name replaced by its parsed content."""
    files = {name: json.loads(text) if name.endswith(".json") else text
             for name, text in style.companions(steps).items()}

    def inline(value):
        if isinstance(value, dict):
            return {k: inline(v) for k, v in value.items()}
        if isinstance(value, list):
            return [inline(v) for v in value]
        return files.get(value, value) if isinstance(value, str) else value

    return inline(style.template(steps)["Resources"])


def leaves(value, path: str = "") -> dict[str, str]:
    """Every leaf of a nested value by its dotted path, as JSON text (lists of values and policies are sets)."""
    if isinstance(value, dict):
        found: dict[str, str] = {}
        for key, inner in value.items():
            found.update(leaves(inner, f"{path}.{key}" if path else str(key)))
        return found
    if isinstance(value, list) and (path.endswith("Policies") or not any(isinstance(i, (dict, list)) for i in value)):
        # a set (grants, a pattern's values, error names): an added member shifts no other
        return {f"{path}[{json.dumps(item, sort_keys=True)}]": "member" for item in value}
    if isinstance(value, list):
        found = {}
        for n, inner in enumerate(value):
            found.update(leaves(inner, f"{path}[{n}]"))
        return found
    if isinstance(value, str) and value.startswith(("{", "[")):
        try:  # JSON inside a string (a function's REACTS_TO): compare what it says, not its text
            return leaves(json.loads(value), path) or {path: value}
        except ValueError:
            pass
    return {path: json.dumps(value, sort_keys=True)}


def owner(logical_id: str, resource: dict, services: tuple[str, ...]) -> str:
    """Which service a resource belongs to: its function or bookings table; what drives the flow (a state
    machine, or a durable function: one with DurableConfig) is the orchestrator's; the rest (bus, trips, trace,
    alerts) is shared."""
    if resource.get("Type", "").endswith("::StateMachine") or "DurableConfig" in resource.get("Properties", {}):
        return "orchestrator"
    for service in services:
        if logical_id in (f"{service.capitalize()}Function", f"{service.capitalize()}Bookings"):
            return service
    return "shared"


def where(paths: list[str], depth: int = 2) -> str:
    """The changed paths without list positions, cut to their first `depth` parts and listed once each."""
    cut = []
    for p in paths:
        head = ".".join(re.sub(r"\[[^\]]*\]", "", p).split(".")[:depth])
        if head not in cut:
            cut.append(head)
    return ", ".join(cut)


def diff(style: type[styles.Style], step: str = "insurance", steps: tuple[str, ...] = SERVICES) -> pd.DataFrame:
    """One row per resource that adding `step` after `steps` adds, removes or changes in a style's template."""
    before, after = resolved(style, steps), resolved(style, (*steps, step))
    services = (*steps, step, "trip")
    rows = []
    for name in [*before, *(n for n in after if n not in before)]:
        old, new = leaves(before.get(name, {})), leaves(after.get(name, {}))
        changed = sorted(p for p in set(old) | set(new) if old.get(p) != new.get(p))
        if not changed:
            continue
        resource = after.get(name) or before[name]
        change = "added" if name not in before else "removed" if name not in after else "changed"
        whose = owner(name, resource, services)
        rows.append({"style": style.name, "resource": name, "type": resource.get("Type", ""), "owner": whose,
                     "change": change, "properties": len(changed) if change == "changed" else 0,
                     "where": where([p.removeprefix("Properties.") for p in changed]) if change == "changed" else "",
                     "other_service": change == "changed" and whose not in (step, "shared", "orchestrator")})
    return pd.DataFrame(rows, columns=COLUMNS)


def add_step(step: str = "insurance", steps: tuple[str, ...] = SERVICES) -> pd.DataFrame:
    """What adding `step` changes in every registered style's template, one row per resource."""
    return pd.concat([diff(style, step, steps) for style in styles.ALL.values()], ignore_index=True)


def summary(changes: pd.DataFrame) -> pd.DataFrame:
    """Per style: resources added, resources changed, and how many of those belong to other services
    (with the number of their properties that changed)."""
    rows = []
    for style, mine in changes.groupby("style", sort=False):
        changed = mine[mine["change"] == "changed"]
        others = changed[changed["other_service"]]
        rows.append({"style": style, "resources added": int((mine["change"] == "added").sum()),
                     "resources changed": len(changed),
                     "other services' resources changed": len(others),
                     "their properties changed": int(others["properties"].sum()),
                     "changed": ", ".join(changed["resource"])})
    return pd.DataFrame(rows).set_index("style")
