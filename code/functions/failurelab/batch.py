"""An SQS batch consumer that cannot process 'poison' messages; with or without partial batch responses."""

from __future__ import annotations

import json
import os
import time

from fnlib.store import table


def handle(event, context):
    """Record each processed message; report poison ones (PARTIAL=1) or fail the whole batch."""
    failed = []
    for message in event["Records"]:
        body = json.loads(message["body"])
        poisoned = body.get("poison") and os.environ.get("ACCEPT_POISON") != "1"
        table("PROCESSED_TABLE").put_item(Item={
            "pk": f"{time.time():.6f}-{message['messageId']}", "item": body["item"],
            "receive_count": int(message["attributes"]["ApproximateReceiveCount"]),
            "outcome": "failed" if poisoned else "done"})
        if poisoned:
            failed.append({"itemIdentifier": message["messageId"]})
    if failed and os.environ.get("PARTIAL") != "1":
        raise RuntimeError(f"{len(failed)} message(s) in the batch could not be processed")
    return {"batchItemFailures": failed}
