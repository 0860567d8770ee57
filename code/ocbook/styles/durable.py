"""The saga as a Lambda durable function: one function whose code books, retries and compensates, checkpointed
by Lambda and replayed after every wait (booking/durable_saga.py; the helpers are ocbook.durable's)."""

from __future__ import annotations

from typing import ClassVar

import pandas as pd

from ocbook import durable
from ocbook.styles.base import SERVICES, Style


class Durable(Style):
    """Ordinary code with durable steps: neither a state machine nor events (the chapter after 5)."""

    name: ClassVar[str] = "durable"
    template_name: ClassVar[str] = "saga-durable"
    units: ClassVar[tuple[str, ...]] = ("durable_operations",)  # billed per operation (step attempt, wait, ...)

    def build(self) -> None:
        """The durable function over the storage already made (its TripFunction, as in the template)."""
        durable.deploy(self.deployment, tuple(self.tables), saga=self)

    @classmethod
    def template(cls, steps: tuple[str, ...] = SERVICES) -> dict:
        """templates/saga-durable.yaml for these steps."""
        from ocbook import templates

        return templates.saga_durable(steps)

    def request(self, trip: dict) -> None:
        """Invoke the function with the trip, the execution named after it: Lambda absorbs a duplicate."""
        durable.request(self, trip)

    def work(self, trip_id: str, records: pd.DataFrame, requests: int) -> dict:
        """Durable operations of the trip's execution, and its Lambda invocations: the first and each replay
        (the trace records are step attempts, which run inside those invocations); it finished when the
        execution ended."""
        found = durable.work(self, trip_id)
        return {"finished": found["finished"], "durable_operations": found["durable_operations"],
                "invocations": 1 + max(found["replays"], 0)}

    def function_runs(self, runs: pd.Series, invocations: int) -> pd.Series:
        """Every step runs inside the one durable function: its invocations, not the steps, are billed."""
        return pd.Series({"trip": invocations})

    def billed(self, trip_id: str, runs: pd.Series, requests: int) -> dict:
        """The function's own PutItem of the trip's status (its durable operations and invocations are counted by
        work())."""
        return {"ddb_writes": 1}

    def deliver_late(self, trip: dict, records: pd.DataFrame) -> str:
        """The trip's request again: an execution name starts once, so Lambda refuses it after the end."""
        return "request accepted" if durable.request(self, trip) else \
            "request refused (DurableExecutionAlreadyStartedException)"

    def add_step(self, step: str) -> None:
        """A table, and the step in the function's step list: the code that knows the flow is unchanged."""
        if self.stack:
            return self.restack(step)
        durable.add_step(self.deployment, self, step)

    def wiring(self) -> dict[str, str]:
        """The durable function's step list."""
        return durable.wiring(self)
