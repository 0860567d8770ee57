"""Helpers for the executable book on orchestration vs choreography in serverless.

Import it under a short name in a chapter: ``import ocbook as ob``; then
``ob.client("sqs")``, ``ob.Deployment("ch01")``, ``ob.wait.messages(...)``.
"""

from ocbook import diagrams, engine, package, plots, saga, show, stepfunctions, trace, wait
from ocbook.clients import ACCOUNT, REGION, client
from ocbook.deploy import Deployment
from ocbook.endpoints import endpoint

__all__ = ["ACCOUNT", "REGION", "Deployment", "client", "diagrams", "endpoint", "engine", "package", "plots", "saga", "show",
           "stepfunctions", "trace", "wait"]
