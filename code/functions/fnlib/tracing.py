"""Powertools' Tracer for the handlers: the real one when the Powertools layer is attached, else a stand-in.

With the layer and ``Tracing: Active`` (how the book deploys the sagas it traces, and how you would deploy
them on AWS), ``Tracer`` patches boto3: every AWS call becomes an X-Ray subsegment and carries the trace
header on, so EventBridge, SQS and SNS pass the trace to the next function. Without the layer (a deployment
that does not trace) the same decorators and calls do nothing, so the handler code is the same either way.
"""

from __future__ import annotations

try:
    from aws_lambda_powertools import Tracer
except ImportError:  # deployed without the Powertools layer: nothing is traced
    class Tracer:
        """The part of Powertools' Tracer the handlers use, doing nothing."""

        def __init__(self, service: str | None = None, **_):
            self.service = service

        def capture_lambda_handler(self, handler):
            """Return the handler unchanged."""
            return handler

        def put_annotation(self, key: str, value) -> None:
            """Drop the annotation."""


__all__ = ["Tracer"]
