"""EventBridge rules that are disabled, archives and replays, as AWS documents them.

AWS: a disabled rule does not match events (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_DisableRule.html);
a replay sends the archived events between EventStartTime and EventEndTime back to the bus
(https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_StartReplay.html).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import ocbook as ob


def put(bus: str, n: str) -> None:
    """One event on the bus, marked n."""
    answer = ob.client("events").put_events(Entries=[{"EventBusName": bus, "Source": "book.archive",
                                                      "DetailType": "Probe", "Detail": json.dumps({"n": n})}])
    assert answer["FailedEntryCount"] == 0


def bodies(queue) -> list[str]:
    """The n of every event delivered to the queue until it goes quiet."""
    return sorted(m["Body"]["detail"]["n"] for m in ob.wait.drain(queue.url, quiet_for=1.5))


def test_a_disabled_rule_matches_nothing_and_a_replay_brings_the_events_back(deployment):
    events = ob.client("events")
    bus = deployment.bus("archived")
    queue = deployment.queue("archived-target")
    rule = deployment.rule(bus, {"source": ["book.archive"]}, [queue.arn])
    bus_arn = events.describe_event_bus(Name=bus)["Arn"]
    archive = events.create_archive(ArchiveName=deployment.name("archive", limit=48), EventSourceArn=bus_arn,
                                    RetentionDays=1)
    deployment.on_teardown("archive", lambda: events.delete_archive(ArchiveName=archive["ArchiveArn"].split("/")[-1]))
    put(bus, "before")
    assert bodies(queue) == ["before"]  # control: an enabled rule delivers
    start = int(time.time()) + 1  # archived times have whole seconds: the window starts after the first event
    ob.wait.poll(lambda: time.time() >= start, 3, what="the next second")
    events.disable_rule(Name=rule, EventBusName=bus)
    put(bus, "lost")
    assert bodies(queue) == []
    events.enable_rule(Name=rule, EventBusName=bus)
    end = time.time() + 1
    name = deployment.name("replay", limit=48)
    events.start_replay(ReplayName=name, EventSourceArn=archive["ArchiveArn"], Destination={"Arn": bus_arn},
                        EventStartTime=datetime.fromtimestamp(start, tz=timezone.utc),
                        EventEndTime=datetime.fromtimestamp(end, tz=timezone.utc))
    ob.wait.until(lambda: events.describe_replay(ReplayName=name)["State"], lambda s: s == "COMPLETED", 30,
                  what="the replay to complete")
    assert bodies(queue) == ["lost"]  # the window's event only, not the earlier one
