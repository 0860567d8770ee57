"""LocalStack's Lambda provider, refusing at create time the runtimes the local-process executor cannot run.

Selected with ``PROVIDER_OVERRIDE_LAMBDA=local-process``. Without it a Node.js
function would be created, fail to start (state Failed) and, in LocalStack
2026.3.0, could then not be deleted ("Unable to find version manager").

It also mends ``ListLayers``: LocalStack 2026.3.0 keeps a layer whose every
version was deleted and then answers InternalError "list index out of range"
(it takes the last of no versions). AWS lists only layers with a version left
and never reuses a version number, so the layer record stays (its next version
number with it) and the listing skips it.

And it carries durable functions (``durable.py``): ``DurableConfig`` on ``CreateFunction`` is kept and
shown by ``GetFunction``/``GetFunctionConfiguration`` (LocalStack drops it), and ``Invoke`` of a durable
function starts a durable execution (synchronously: waits for its end and answers its result; ``Event``:
answers 202), unless it carries the local runner's handler marker, in which case the handler runs once.
"""

from __future__ import annotations

from localstack.services.plugins import Service, aws_provider

from ocbook_engine import durable
from ocbook_engine.executor import SUPPORTED_RUNTIMES, UnsupportedRuntime

# Longest a synchronous Invoke of a durable function waits for the execution (Lambda's 15 minutes).
SYNC_DURABLE_LIMIT_SECONDS = 900


@aws_provider(api="lambda", name="local-process")
def lambda_local_process():
    """The lambda:local-process provider plugin."""
    from localstack.aws.api.lambda_ import (
        InvalidParameterValueException,
        InvocationResponse,
        InvocationType,
        LayersListItem,
        ListLayersResponse,
        PackageType,
    )
    from localstack.services.lambda_ import api_utils
    from localstack.services.lambda_.provider import LambdaProvider, ValidationException, lambda_stores
    from localstack.utils.collections import PaginatedList

    INVOCATION_MARKER = "X-Dex-Handler-Invoke"  # invoker.INVOCATION_MARKER_HEADER of AWS's local runner

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

        def list_layers(self, context, compatible_runtime=None, marker=None, max_items=None,
                        compatible_architecture=None, **kwargs):
            """LocalStack's ListLayers, leaving out layers that have no version left, with the newest version."""
            errors = [error for error in (api_utils.validate_layer_architecture(compatible_architecture),
                                          api_utils.validate_layer_runtime(compatible_runtime)) if error]
            if errors:
                raise ValidationException(f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} "
                                          f"detected: {';'.join(errors)}")
            listed = []
            for name, layer in lambda_stores[context.account_id][context.region].layers.items():
                versions = sorted(layer.layer_versions.values(), key=lambda version: version.version)
                if versions:
                    listed.append(LayersListItem(LayerName=name, LayerArn=layer.arn,
                                                 LatestMatchingVersion=api_utils.map_layer_out(versions[-1])))
            page, token = PaginatedList(listed).get_page(lambda item: item["LayerName"], marker, max_items)
            return ListLayersResponse(NextMarker=token, Layers=page)

        def create_function(self, context, request):
            """LocalStack's CreateFunction, keeping the function's DurableConfig (Python 3.13 only, as on AWS)."""
            config = request.get("DurableConfig")
            if config is not None and request.get("Runtime") not in durable.DURABLE_RUNTIMES:
                raise InvalidParameterValueException(
                    f"durable functions need one of the runtimes {', '.join(durable.DURABLE_RUNTIMES)}", Type="User")
            if config is not None and (problem := durable.config_problem(config)):
                raise InvalidParameterValueException(problem, Type="User")
            answer = super().create_function(context, request)
            if config is not None:
                durable.CONFIGS[answer["FunctionArn"]] = dict(config)
                answer["DurableConfig"] = dict(config)
            return answer

        def get_function(self, context, function_name, qualifier=None, **kwargs):
            """LocalStack's GetFunction, with the DurableConfig."""
            answer = super().get_function(context, function_name, qualifier, **kwargs)
            with_durable_config(answer["Configuration"])
            return answer

        def get_function_configuration(self, context, function_name, qualifier=None, **kwargs):
            """LocalStack's GetFunctionConfiguration, with the DurableConfig."""
            return with_durable_config(super().get_function_configuration(context, function_name, qualifier,
                                                                          **kwargs))

        def delete_function(self, context, function_name, qualifier=None, **kwargs):
            """LocalStack's DeleteFunction, forgetting the DurableConfig with the function."""
            answer = super().delete_function(context, function_name, qualifier, **kwargs)
            if not qualifier:
                account_id, region = api_utils.get_account_and_region(function_name, context)
                name = api_utils.get_function_name(function_name, context)
                durable.CONFIGS.pop(api_utils.unqualified_lambda_arn(name, account_id, region), None)
            return answer

        def invoke(self, context, function_name, invocation_type=None, log_type=None, client_context=None,
                   durable_execution_name=None, payload=None, qualifier=None, tenant_id=None, **kwargs):
            """Invoke; a durable function's Invoke (without the runner's marker) starts a durable execution."""
            account_id, region = api_utils.get_account_and_region(function_name, context)
            name, qualifier = api_utils.get_name_and_qualifier(function_name, qualifier, context)
            arn = api_utils.unqualified_lambda_arn(name, account_id, region)
            marked = context.request.headers.get(INVOCATION_MARKER) == "true"
            if arn not in durable.CONFIGS or marked or invocation_type == InvocationType.DryRun:
                return super().invoke(context, function_name, invocation_type, log_type, client_context,
                                      durable_execution_name, payload, qualifier, tenant_id, **kwargs)
            self.get_function(context, arn, qualifier)  # ResourceNotFoundException as for any Invoke
            body = payload.read().decode() if payload else "{}"
            service = durable.service()
            execution = service.start(arn, qualifier or "$LATEST", body or "{}", durable_execution_name, tenant_id)
            if invocation_type == InvocationType.Event:
                return InvocationResponse(StatusCode=202, DurableExecutionArn=execution)
            limit = min(SYNC_DURABLE_LIMIT_SECONDS,
                        int(durable.CONFIGS[arn].get("ExecutionTimeout", SYNC_DURABLE_LIMIT_SECONDS)))
            outcome = service.outcome(execution, limit + 5)
            response = InvocationResponse(StatusCode=200, ExecutedVersion=qualifier or "$LATEST",
                                          DurableExecutionArn=execution)
            if outcome is not None and outcome["Status"] == "SUCCEEDED":
                response["Payload"] = (outcome["Result"] or "null").encode()
            else:
                response["FunctionError"] = "Unhandled"
                response["Payload"] = durable.error_payload(
                    (outcome or {}).get("Error") or {"ErrorType": "Sandbox.Timedout",
                                                     "ErrorMessage": f"still running after {limit} seconds"})
            return response

    def with_durable_config(configuration: dict) -> dict:
        """A function configuration with its DurableConfig, if it has one."""
        arn = configuration.get("FunctionArn", "")
        unqualified = ":".join(arn.split(":")[:7])
        if unqualified in durable.CONFIGS:
            configuration["DurableConfig"] = dict(durable.CONFIGS[unqualified])
        return configuration

    return Service.for_provider(LocalProcessLambdaProvider())
