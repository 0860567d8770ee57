"""What counts as LocalStack's health answer (stdlib only: used by the launcher and by ocbook.endpoints)."""

from __future__ import annotations

# LocalStack's health answer maps service names to these states (localstack.services.plugins.ServiceState).
SERVICE_STATES = {"unknown", "available", "disabled", "starting", "running", "stopping", "stopped", "error"}
KNOWN_SERVICES = {"s3", "sqs", "sns", "lambda", "dynamodb", "events", "kinesis", "stepfunctions", "iam", "sts",
                  "logs", "apigateway", "cloudwatch", "cloudformation"}


def is_localstack_health(document: object) -> bool:
    """True if a document has the shape of LocalStack's health answer: service names mapped to service states.

    Anything else that happens to serve JSON with a `services` key (another tool on the port) is not accepted.
    """
    if not isinstance(document, dict):
        return False
    services = document.get("services")
    return (isinstance(services, dict) and bool(KNOWN_SERVICES & set(services))
            and all(isinstance(state, str) and state in SERVICE_STATES for state in services.values()))
