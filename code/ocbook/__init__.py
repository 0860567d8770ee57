"""Helpers for the executable book on orchestration vs choreography in serverless.

Import it under a short name in a chapter: ``import ocbook as ob``; then
``ob.client("sqs")``, ``ob.Deployment("ch01")``, ``ob.wait.messages(...)``.
"""

from ocbook import (
                    diagrams,
                    durable,
                    engine,
                    facts,
                    package,
                    plots,
                    saga,
                    show,
                    stepfunctions,
                    styles,
                    trace,
                    wait,
                    xray,
)
from ocbook.clients import ACCOUNT, REGION, EngineStopped, all_pages, client, register_ipython_handler
from ocbook.deploy import Deployment
from ocbook.endpoints import endpoint

__all__ = ["ACCOUNT", "REGION", "Deployment", "EngineStopped", "all_pages", "client", "diagrams", "durable",
           "endpoint", "engine", "facts", "package", "plots", "saga", "show", "stepfunctions", "styles", "trace",
           "wait", "xray"]

register_ipython_handler()  # in a notebook, a stopped engine is one line, not a wall of traceback
