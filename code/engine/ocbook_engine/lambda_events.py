"""Lambda's asynchronous invocations are not held back by a function update.

LocalStack 2026.3.0 queues a function's asynchronous invocations (``InvocationType=Event``: EventBridge, SNS, S3
and ``lambda.invoke`` with Event all come this way) on an internal SQS queue that a ``Poller`` thread of the
function's event manager reads with a 2 s long poll and a visibility timeout of the function's timeout + 60 s.
``UpdateFunctionConfiguration`` or ``UpdateFunctionCode`` starts a new event manager on the *same* queue and
tells the old poller to stop; but the old poller's last long poll (up to 2 s) is still waiting, and the next
message can go to it. ``Poller.run`` then sees its stop flag and drops what it received without deleting it or
making it visible again, so the message stays invisible for timeout + 60 s (70 s for a 10 s function).
Measured on the engine: an ``Event`` invoke made right after the update's ``function_updated_v2`` waiter
returned ran after ~70 s in 3 of 3 tries, one made 1 s later in 2 of 3, one made 2.5 s later at once. The old
invoker pool's ``shutdown(cancel_futures=True)`` does the same to received messages still waiting for a worker.

That is why a stack update of the choreographed saga (which changes three functions' environments) sometimes
left the trip unfinished: the first event the just-updated trip service got (``InsuranceBooked``) waited 70 s,
past every wait in the book. On AWS an update does not hold events back: Lambda queues an asynchronous event and
a separate process sends it to the function (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html);
delays come from errors, throttling and retries only.

``run`` below is LocalStack's ``Poller.run`` except that messages received after the stop flag was set, or whose
handling was cancelled, are made visible again at once (visibility timeout 0); the new poller picks them up and
invokes the function by its ARN, which reaches the updated version. Applied at engine start (``hooks.py``), only
on the localstack-core version it was written for.
"""

from __future__ import annotations

import logging

LOG = logging.getLogger("ocbook_engine.lambda_events")


def release(queue_url: str, messages: list[dict]) -> None:
    """Make received messages of Lambda's internal event queue visible again now (the queue may be gone)."""
    from localstack.services.lambda_.invocation.internal_sqs_queue import get_fake_sqs_client

    try:
        queue = get_fake_sqs_client().queue_manager.get_queue(queue_name=queue_url)
        for message in messages:
            queue.update_visibility_timeout(message["ReceiptHandle"], 0)
    except Exception as error:  # the function was deleted meanwhile: its events go with it
        LOG.debug("could not return %d message(s) to %s: %s", len(messages), queue_url, error)
        return
    LOG.info("ocbook-engine: %d asynchronous invocation(s) received by a stopping poller returned to %s",
             len(messages), queue_url)


def hand_over(poller, message: dict) -> None:
    """Submit a message to the poller's invoker pool; if that pool is shut down or cancels it, release it."""
    queue_url = poller.event_queue_url

    def cancelled(future) -> None:
        if future.cancelled():
            release(queue_url, [message])

    try:
        future = poller.invoker_pool.submit(poller.handle_message, message)
    except RuntimeError:  # "cannot schedule new futures after shutdown": the poller is stopping
        release(queue_url, [message])
        return
    future.add_done_callback(cancelled)


def run(self, *args, **kwargs):
    """Poller.run of localstack-core 2026.3.0, returning what it receives while stopping to the queue."""
    from localstack.services.lambda_.invocation import event_manager

    sqs_client = event_manager.get_sqs_client(self.version_manager.function_version,
                                              client_config=event_manager.CLIENT_CONFIG)
    function_timeout = self.version_manager.function_version.config.timeout
    while not self._shutdown_event.is_set():
        try:
            response = sqs_client.receive_message(QueueUrl=self.event_queue_url, WaitTimeSeconds=2,
                                                  MaxNumberOfMessages=10, VisibilityTimeout=function_timeout + 60)
            messages = response.get("Messages") or []
            if not messages:
                continue
            if self._shutdown_event.is_set():  # stopped during the long poll: the new poller takes them
                release(self.event_queue_url, messages)
                return
            for message in messages:
                hand_over(self, message)
        except Exception as error:  # as LocalStack: log, wait a second, poll again (quietly once stopping)
            if self._shutdown_event.is_set():
                return
            LOG.error("Error while polling lambda events for function %s: %s",
                      self.version_manager.function_version.qualified_arn, error,
                      exc_info=LOG.isEnabledFor(logging.DEBUG))
            self._shutdown_event.wait(1)


def patch_event_poller() -> bool:
    """Replace Poller.run; False (and a log line) on another localstack-core."""
    from ocbook_engine import guard

    if not guard.applies("Lambda event poller", "an update can hold back an asynchronous invocation ~70 s"):
        return False
    from localstack.services.lambda_.invocation.event_manager import Poller

    Poller.run = run
    return True
