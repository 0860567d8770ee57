"""Tiny DynamoDB helpers for handlers whose tables are named in environment variables."""

from __future__ import annotations

import os
import time
from functools import cache

import boto3


@cache
def table(variable: str):
    """The DynamoDB table named by an environment variable."""
    return boto3.resource("dynamodb").Table(os.environ[variable])


def record_attempt(key: str, request_id: str, **extra) -> None:
    """Write one row per attempt: when it ran and under which request id."""
    table("ATTEMPTS_TABLE").put_item(Item={"pk": key, "sk": f"{time.time():.6f}", "request_id": request_id,
                                           "at": f"{time.time():.6f}", **extra})
