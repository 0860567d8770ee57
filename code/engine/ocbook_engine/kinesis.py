"""Kinesis served by moto inside the engine, instead of LocalStack's default, kinesis-local (a Node.js server).

Selected with ``PROVIDER_OVERRIDE_KINESIS=moto``. kinesis-local listened on
0.0.0.0 (two ports), so anyone on the machine's network could read and write
streams; it also cost Node.js, an npm download and ~115 MB. moto answers
inside the engine's own process, behind the gateway on 127.0.0.1. What the
book uses works on it: streams, shards, put and get records in order, shard
iterators by position, and LocalStack's Kinesis event source mapping (which
polls through the gateway with DescribeStream, GetShardIterator, GetRecords).

One moto defect is mended: a shard iterator asked for by ``StreamARN`` (not
``StreamName``) encoded the stream as "None", so ``GetRecords`` with that
iterator alone answered "Stream None ... not found".
"""

from __future__ import annotations

from localstack.aws.api.kinesis import KinesisApi
from localstack.services.moto import MotoFallbackDispatcher
from localstack.services.plugins import Service, aws_provider


class MotoKinesisProvider(KinesisApi):
    """Kinesis entirely from moto."""


def mend_shard_iterators() -> None:
    """Make moto name the stream inside every shard iterator, however the stream was given."""
    from moto.kinesis.models import KinesisBackend

    if getattr(KinesisBackend.get_shard_iterator, "_ocbook_mended", False):
        return
    original = KinesisBackend.get_shard_iterator

    def get_shard_iterator(self, stream_arn, stream_name, *args, **kwargs):
        if not stream_name and stream_arn:
            stream_name = self.describe_stream(stream_arn=stream_arn, stream_name=None).stream_name
        return original(self, stream_arn, stream_name, *args, **kwargs)

    get_shard_iterator._ocbook_mended = True
    KinesisBackend.get_shard_iterator = get_shard_iterator


@aws_provider(api="kinesis", name="moto")
def kinesis_moto():
    """The kinesis:moto provider plugin."""
    mend_shard_iterators()
    return Service.for_provider(MotoKinesisProvider(), dispatch_table_factory=MotoFallbackDispatcher)
