"""Kinesis and DynamoDB Streams event source mappings that bisect a failing batch, as Lambda does on AWS.

LocalStack 2026.3.0 accepts ``BisectBatchOnFunctionError`` and then retries the whole batch (its ESM
worker factory does not even pass the flag to the poller). This module hands the flag to the poller
and replaces ``StreamPoller.forward_events_to_target`` (applied by an ``on_infra_start`` hook, only on
the localstack-core version it was written for) with AWS's documented behaviour:

- "For function errors, you can also configure BisectBatchOnFunctionError, which splits a failed batch
  into two smaller batches, isolating bad records and avoiding timeouts. Splitting batches doesn't
  consume the retry quota." (Lambda developer guide, "Retain discarded batch records for a Kinesis Data
  Streams event source", https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html;
  the DynamoDB page, services-ddb-params / ddb-on-failure-destination, says the same.)
- ``MaximumRetryAttempts``: -1 (the default) retries until the record expires; otherwise a batch is
  discarded after that many retries, the first invocation not counted ("services-kinesis-parameters",
  https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html, and "services-ddb-params").
- ``MaximumRecordAgeInSeconds``: -1 means never; otherwise records older than that are discarded
  before they are sent (same pages).
- A discarded batch is described to the on-failure destination (SQS, SNS, or S3 with the records) by a
  JSON record: ``requestContext`` (requestId, functionArn, condition ``RetryAttemptsExhausted`` or
  ``RecordAgeExceeded``, approximateInvokeCount), ``responseContext`` (statusCode, executedVersion,
  functionError), ``KinesisBatchInfo`` / ``DDBStreamBatchInfo`` (shardId, start/end sequence numbers,
  approximate arrival of first/last record, batchSize, streamArn), ``timestamp`` and ``version``
  (kinesis-on-failure-destination, "Example invocation record"). LocalStack already writes that shape.

How the split runs here: a failing batch of more than one record is cut in two halves (the first half
gets the extra record when the size is odd: ``len // 2`` goes to the second), the first half is sent
first, and each half starts with the retries its parent had used, so splitting costs no retry. A batch
of one record that keeps failing is retried up to ``MaximumRetryAttempts`` and then discarded alone.
``approximateInvokeCount`` counts every invocation that carried the discarded records (the splits
that contained them and their retries). Errors that are not function errors (the function could not
be invoked) are retried without splitting, as on AWS ("Before invocation" in the same page); unlike
AWS, and as LocalStack did, those retries count against ``MaximumRetryAttempts``.

Back-off between retries of the same batch: AWS does not publish the interval for stream retries; the
engine keeps LocalStack's exponential back-off (0.5 s x 1.5^n, randomised) multiplied by the book's
time scale (``ocbook_engine.clock.scale()``), so at the default scale a retry waits milliseconds. A split
is sent at once.
"""

from __future__ import annotations

import logging
from collections import deque

from localstack.runtime import hooks

from ocbook_engine import clock, guard

LOG = logging.getLogger(__name__)


def split(events: list[dict]) -> list[list[dict]]:
    """The two halves of a batch (the first is the larger when the size is odd)."""
    middle = (len(events) + 1) // 2
    return [events[:middle], events[middle:]]


class _Batch:
    """One batch on its way through the retry/split loop."""

    def __init__(self, events: list[dict], retries: int = 0, invocations: int = 0):
        self.events = events
        self.retries = retries  # retries used so far by this batch's lineage (splits are free)
        self.invocations = invocations  # invocations that carried these records


def forward_events_to_target(self, shard_id, records):
    """Filter a polled batch, then invoke, retry and bisect it as Lambda does; discard to the destination."""
    polled_events = self.transform_into_events(records, shard_id)
    matching = self.post_filter(self.filter_events(self.pre_filter(polled_events)))
    if not matching:
        return
    events = self.add_source_metadata(matching)
    LOG.debug("Polled %d events from %s in shard %s", len(events), self.source_arn, shard_id)
    pending = deque([_Batch(events)])
    while pending and not self._is_shutdown.is_set():
        halves = _deliver(self, shard_id, pending.popleft())
        pending.extendleft(reversed(halves))


def _deliver(self, shard_id: str, batch: _Batch) -> list[_Batch]:
    """Send one batch until it succeeds, is split (returns the halves) or is discarded (returns [])."""
    from localstack.services.lambda_.event_source_mapping.event_processor import (
        BatchFailureError,
        PartialBatchFailureError,
    )
    from localstack.services.lambda_.event_source_mapping.pollers.poller import get_batch_item_failures
    from localstack.utils.backoff import ExponentialBackoff

    params = self.stream_parameters
    max_retries = params.get("MaximumRetryAttempts", -1)
    max_age = max(params.get("MaximumRecordAgeInSeconds", -1), 0)
    bisect = getattr(self, "bisect_batch_on_function_error", False)
    backoff = ExponentialBackoff(max_retries=max_retries)
    error: dict = {}
    retried = False
    events = batch.events
    while events and not self._is_shutdown.is_set():
        if max_retries != -1 and batch.retries > max_retries:
            _discard(self, shard_id, events, "RetryAttemptsExhausted", error, batch.invocations)
            return []
        if max_age:
            events, expired = self.bisect_events_by_record_age(max_age, events)
            if expired:
                _discard(self, shard_id, expired, "RecordAgeExceeded", error, batch.invocations)
                continue
        if retried:
            self._is_shutdown.wait(backoff.next_backoff() * clock.scale())
        retried = True
        batch.invocations += 1
        try:
            self.processor.process_events_batch(events)
            return []
        except PartialBatchFailureError as ex:
            # ReportBatchItemFailures: retry from the lowest failed sequence number (LocalStack's logic).
            error = ex.error
            numbers = {self.get_sequence_number(event) for event in events}
            failed = get_batch_item_failures(ex.partial_failure_payload, numbers)
            if failed:
                _, events = self.bisect_events(min(failed, key=int), events)
        except BatchFailureError as ex:
            error = ex.error
            if bisect and len(events) > 1:
                LOG.debug("Function error on a batch of %d from %s: splitting it", len(events), self.source_arn)
                return [_Batch(half, batch.retries, batch.invocations) for half in split(events)]
        except Exception:
            LOG.error("Unexpected error while processing a batch of %d from %s", len(events), self.source_arn,
                      exc_info=LOG.isEnabledFor(logging.DEBUG))
        batch.retries += 1
    return []


def target_arn(processor) -> str | None:
    """The function an event source mapping invokes (None for other processors)."""
    return getattr(getattr(processor, "sender", None), "target_arn", None)


def _discard(self, shard_id: str, events: list[dict], condition: str, error: dict, invocations: int) -> None:
    """Describe discarded records to the on-failure destination (if any)."""
    context = self.processor.generate_event_failure_context(
        abort_condition=condition, error=error, attempts_count=invocations,
        partner_resource_arn=self.partner_resource_arn)
    if not context:  # records that expired before any invocation failed: no response to report
        context = {"requestContext": {"requestId": None, "functionArn": target_arn(self.processor),
                                      "condition": condition, "approximateInvokeCount": invocations}}
    LOG.info("Discarding %d record(s) from %s shard %s: %s after %d invocation(s)",
             len(events), self.source_arn, shard_id, condition, invocations)
    self.send_events_to_dlq(shard_id, events, context=context)


@hooks.on_infra_start()
def patch_stream_bisect() -> None:
    """Make Kinesis and DynamoDB Streams mappings bisect, retry and discard as on AWS."""
    if not guard.applies("stream bisect", "BisectBatchOnFunctionError will retry whole batches"):
        return
    from localstack.services.lambda_.event_source_mapping.esm_worker_factory import EsmWorkerFactory
    from localstack.services.lambda_.event_source_mapping.pollers.stream_poller import StreamPoller

    StreamPoller.forward_events_to_target = forward_events_to_target
    original = EsmWorkerFactory.get_esm_worker

    def get_esm_worker(self):
        """LocalStack's worker, its poller told the mapping's BisectBatchOnFunctionError (not passed on)."""
        worker = original(self)
        worker.poller.bisect_batch_on_function_error = bool(self.esm_config.get("BisectBatchOnFunctionError"))
        return worker

    EsmWorkerFactory.get_esm_worker = get_esm_worker
    LOG.info("ocbook-engine: %s applied", __name__)
