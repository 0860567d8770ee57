"""LocalStack's Lambda provider, refusing at create time the runtimes the local-process executor cannot run.

Selected with ``PROVIDER_OVERRIDE_LAMBDA=local-process``. Without it a Node.js
function would be created, fail to start (state Failed) and, in LocalStack
2026.3.0, could then not be deleted ("Unable to find version manager").

It also mends ``ListLayers``: LocalStack 2026.3.0 keeps a layer whose every
version was deleted and then answers InternalError "list index out of range"
(it takes the last of no versions). AWS lists only layers with a version left
and never reuses a version number, so the layer record stays (its next version
number with it) and the listing skips it.
"""

from __future__ import annotations

from localstack.services.plugins import Service, aws_provider

from ocbook_engine.executor import SUPPORTED_RUNTIMES, UnsupportedRuntime


@aws_provider(api="lambda", name="local-process")
def lambda_local_process():
    """The lambda:local-process provider plugin."""
    from localstack.aws.api.lambda_ import (
        InvalidParameterValueException,
        LayersListItem,
        ListLayersResponse,
        PackageType,
    )
    from localstack.services.lambda_ import api_utils
    from localstack.services.lambda_.provider import LambdaProvider, ValidationException, lambda_stores
    from localstack.utils.collections import PaginatedList

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

    return Service.for_provider(LocalProcessLambdaProvider())
