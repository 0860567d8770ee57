"""LocalStack's Lambda provider, refusing at create time the runtimes the local-process executor cannot run.

Selected with ``PROVIDER_OVERRIDE_LAMBDA=local-process``. Without it a Node.js
function would be created, fail to start (state Failed) and, in LocalStack
2026.3.0, could then not be deleted ("Unable to find version manager").
"""

from __future__ import annotations

from localstack.services.plugins import Service, aws_provider

from ocbook_engine.executor import SUPPORTED_RUNTIMES, UnsupportedRuntime


@aws_provider(api="lambda", name="local-process")
def lambda_local_process():
    """The lambda:local-process provider plugin."""
    from localstack.aws.api.lambda_ import InvalidParameterValueException, PackageType
    from localstack.services.lambda_.provider import LambdaProvider

    class LocalProcessLambdaProvider(LambdaProvider):
        """Adds one rule to runtime validation: Python runtimes only."""

        def _validate_runtime(self, package_type, runtime):
            super()._validate_runtime(package_type, runtime)
            if package_type == PackageType.Image:
                raise InvalidParameterValueException(
                    "container image functions are not supported by the book's local-process Lambda executor",
                    Type="User")
            if runtime not in SUPPORTED_RUNTIMES:
                raise InvalidParameterValueException(str(UnsupportedRuntime.message(runtime)), Type="User")

    return Service.for_provider(LocalProcessLambdaProvider())
