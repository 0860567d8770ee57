"""Publish domain events to the EventBridge bus named in the EVENT_BUS variable."""

from __future__ import annotations

import json
import os
from functools import cache

import boto3


@cache
def _events():
    """The EventBridge client (boto3 reads AWS_ENDPOINT_URL set by the engine)."""
    return boto3.client("events")


def publish(detail_type: str, detail: dict, source: str) -> None:
    """Put one event on the bus; raise if EventBridge did not accept it."""
    entry = {"EventBusName": os.environ["EVENT_BUS"], "Source": source, "DetailType": detail_type,
             "Detail": json.dumps(detail)}
    result = _events().put_events(Entries=[entry])
    if result.get("FailedEntryCount"):
        raise RuntimeError(f"event {detail_type} was not accepted: {result['Entries']}")
