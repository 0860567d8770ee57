"""DynamoDB and DynamoDB Streams served by moto, so that "DynamoDB Local" is never downloaded or started.

Selected with ``PROVIDER_OVERRIDE_DYNAMODB=moto`` and
``PROVIDER_OVERRIDE_DYNAMODBSTREAMS=moto``. The providers implement almost
nothing themselves: ``MotoFallbackDispatcher`` sends every operation to moto
(which ships with localstack-core). Three moto defects are mended here:

- disabling a table's stream kept its shard, so every later write failed with HTTP 500;
- an INSERT record carried ``OldImage: {}`` and a REMOVE record ``NewImage: {}``;
- re-putting an identical item emitted a MODIFY record (DynamoDB writes none).
"""

from __future__ import annotations

from localstack.aws.api import RequestContext, handler
from localstack.aws.api.dynamodb import DynamodbApi, UpdateTableInput, UpdateTableOutput
from localstack.aws.api.dynamodbstreams import DynamodbstreamsApi
from localstack.services.moto import MotoFallbackDispatcher, call_moto
from localstack.services.plugins import Service, aws_provider

from ocbook_engine.versions import require


def moto_table(context: RequestContext, name: str):
    """The moto Table behind a request's account and region."""
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[context.account_id][context.region].get_table(name)


class MotoDynamoDBProvider(DynamodbApi):
    """DynamoDB entirely from moto, with the stream-disable defect mended."""

    @handler("UpdateTable", expand=False)
    def update_table(self, context: RequestContext, request: UpdateTableInput) -> UpdateTableOutput:
        """Let moto update the table; if the stream was switched off, drop its shard too."""
        response = call_moto(context)
        spec = request.get("StreamSpecification")
        if spec is not None and not spec.get("StreamEnabled"):
            moto_table(context, request["TableName"].split("/")[-1]).stream_shard = None
        return response


class MotoDynamoDBStreamsProvider(DynamodbstreamsApi):
    """DynamoDB Streams entirely from moto."""


def mend_stream_records() -> None:
    """Make moto's stream records match DynamoDB's: no empty images, no record for a no-op put."""
    from moto.dynamodb.models.table import StreamRecord, StreamShard

    if getattr(StreamShard.add, "_ocbook_mended", False):
        return
    original_add = StreamShard.add
    original_init = StreamRecord.__init__

    def add(self, old, new):
        if old is not None and new is not None and old.to_json() == new.to_json():
            return
        original_add(self, old, new)

    def record_init(self, table, stream_type, event_name, old, new, seq):
        original_init(self, table, stream_type, event_name, old, new, seq)
        images = self.record["dynamodb"]
        if old is None:
            images.pop("OldImage", None)
        if new is None:
            images.pop("NewImage", None)
        self.record["awsRegion"] = table.region_name

    add._ocbook_mended = True
    StreamShard.add = add
    StreamRecord.__init__ = record_init


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():
    """The dynamodb:moto provider plugin."""
    require("dynamodb:moto", "localstack-core", "moto-ext")
    mend_stream_records()
    return Service.for_provider(MotoDynamoDBProvider(), dispatch_table_factory=MotoFallbackDispatcher)


@aws_provider(api="dynamodbstreams", name="moto")
def dynamodbstreams_moto():
    """The dynamodbstreams:moto provider plugin."""
    require("dynamodbstreams:moto", "localstack-core", "moto-ext")
    mend_stream_records()
    return Service.for_provider(MotoDynamoDBStreamsProvider(), dispatch_table_factory=MotoFallbackDispatcher)
