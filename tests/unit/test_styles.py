"""The saga styles as objects: one interface, a registry, and a third style needing nothing else."""

from __future__ import annotations

import inspect
import json
from typing import ClassVar

import pandas as pd
import pytest

from ocbook import harness, styles, templates
from ocbook.styles import Style

# what each style must define
INTERFACE = ("template", "build", "request", "work", "deliver_late", "add_step", "wiring")


def missing(style: type[Style]) -> list[str]:
    """The interface methods a style leaves to the base class (which only raises)."""
    return [m for m in INTERFACE if inspect.getattr_static(style, m) is inspect.getattr_static(Style, m)]


@pytest.mark.parametrize("name", list(styles.ALL))
def test_every_registered_style_implements_the_whole_interface(name):
    style = styles.get(name)
    assert issubclass(style, Style) and style.name == name and style.units
    assert missing(style) == []


def test_the_interface_check_sees_a_missing_method():
    class Half(Style):  # positive control for the check above
        name = "half"

        def request(self, trip):
            pass

    assert missing(Half) == ["template", "build", "work", "deliver_late", "add_step", "wiring"]


@pytest.mark.parametrize("name", list(styles.ALL))
def test_a_style_generates_its_committed_template_and_companions(name):
    style = styles.get(name)
    assert style.template() == templates.load(style.template_name)
    for filename, text in style.companions().items():
        assert text == templates.path(filename).read_text()


def test_a_template_for_more_steps_has_the_new_step():
    for style in styles.ALL.values():
        assert "InsuranceBookings" in style.template((*styles.SERVICES, "insurance"))["Resources"]
        assert "InsuranceBookings" not in style.template()["Resources"]


def test_an_unknown_style_says_which_exist():
    with pytest.raises(ValueError, match="no saga style 'actors': use one of orchestrated, choreographed, durable"):
        styles.get("actors")


def test_the_orchestrated_options_shape_its_template_and_definition():
    plain, options = styles.Orchestrated.template(), {"approvals": True, "type": "EXPRESS", "jsonata": True}
    varied = styles.Orchestrated.template(**options)
    assert "Approvals" not in plain["Resources"] and "Approvals" in varied["Resources"]
    assert varied["Resources"]["TripSaga"]["Properties"]["Type"] == "EXPRESS"
    assert varied["Resources"]["TripSaga"]["Properties"]["DefinitionSubstitutions"]["ApprovalsQueueUrl"] == {
        "Ref": "Approvals"}
    definition = json.loads(styles.Orchestrated.companions(**options)["saga-orchestrated.asl.json"])
    assert definition["QueryLanguage"] == "JSONata" and "ApprovePayment" in definition["States"]
    assert "${ApprovalsQueueUrl}" in json.dumps(definition["States"]["ApprovePayment"])


def test_a_style_deploys_its_stack_by_default_only_when_it_says_so(monkeypatch):
    made = []
    monkeypatch.setattr(Style, "deploy_stack", classmethod(lambda cls, *a, **k: made.append(cls.name)))
    for style in (styles.Orchestrated, styles.Choreographed):
        style.deploy(None)
    assert made == ["orchestrated", "choreographed"] and Style.stack_by_default is False


def test_the_choreographed_style_has_one_option():
    with pytest.raises(ValueError, match="the choreographed saga's only option is pivot, not: approvals"):
        styles.Choreographed.template(approvals=True)


def test_a_pivot_recovers_the_later_steps_forward_in_both_styles():
    plain = styles.Choreographed.template()["Resources"]
    pivoted = styles.Choreographed.template(pivot="flight")["Resources"]
    def on_failure(resources, service):
        return resources[f"{service}Function"]["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert "RedriveFunction" in pivoted and "RedriveFunction" not in plain
    assert on_failure(pivoted, "Car")["Type"] == "Lambda" and on_failure(plain, "Car")["Type"] == "SQS"
    assert on_failure(pivoted, "Flight")["Type"] == on_failure(pivoted, "Hotel")["Type"] == "SQS"
    definition = json.loads(styles.Orchestrated.companions(pivot="flight")["saga-orchestrated.asl.json"])
    retries = {state: s["Retry"][0]["MaxAttempts"] for state, s in definition["States"].items()
               if state.startswith("Book")}
    assert retries["BookCar"] > retries["BookFlight"] == retries["BookHotel"]
    with pytest.raises(ValueError, match="the pivot 'boat' is not a step"):
        styles.Orchestrated.companions(pivot="boat")


@pytest.mark.parametrize("name", list(styles.ALL))
def test_a_stack_saga_adds_a_step_by_updating_its_stack(name, monkeypatch):
    saga = styles.get(name)(None, {"hotel": "t"}, "trips", "trace", None, stack="s-1")
    asked = []
    monkeypatch.setattr(saga, "restack", asked.append)
    saga.add_step("insurance")
    assert asked == ["insurance"] and saga.tables == {"hotel": "t"}  # nothing changed behind CloudFormation


def test_choreographed_work_counts_requests_and_published_events():
    saga = styles.Choreographed(None, {}, "trips", "trace", None)
    records = pd.DataFrame([{"service": "hotel", "events_out": ["HotelBooked"], "ended": 5.0},
                            {"service": "trip", "events_out": ["TripConfirmed"], "ended": 7.0}])
    assert saga.work("a", records, requests=2) == {"finished": 7.0, "events": 4}
    assert saga.work("a", records.iloc[:1], requests=1) == {"finished": None, "events": 2}


def test_a_third_style_needs_only_its_class_and_its_registry_entry(monkeypatch):
    class Durable(Style):
        """A stand-in for a later style with its own work unit."""

        name: ClassVar[str] = "durable"
        units: ClassVar[tuple[str, ...]] = ("checkpoints",)

        def work(self, trip_id, records, requests):
            return {"finished": None, "checkpoints": 3}

    monkeypatch.setitem(styles.ALL, "durable", Durable)
    monkeypatch.setattr(harness.trace, "records", lambda table: pd.DataFrame(
        [{"trip": "d-1", "service": "hotel", "events_out": [], "ended": 1.0, "outcome": "ok"}]))
    driven = [{"trip_id": "d-1", "submitted": 0.0, "seen_final": 2.0, "status": "CONFIRMED"}]
    plans = {"d-1": {"fail": {}, "duplicate": False}}
    frame = harness.measure(Durable(None, {}, "trips", "trace", None), driven, plans)
    row = frame.iloc[0]
    assert (row["style"], row["checkpoints"], row["events"], row["transitions"]) == ("durable", 3, 0, 0)
    assert row["latency_s"] == 2.0  # no record of the end: the client's view
    result = harness.Result("durable", harness.Settings(trips=1), frame, [], 2.0)
    assert harness.summarise(result)["checkpoints_per_trip"] == 3
    assert styles.get("durable") is Durable and "durable" in styles.names()


def test_ratios_compare_every_later_style_with_the_first():
    results = [harness.Result(n, harness.Settings(), pd.DataFrame(), [], 1.0, summary={"style": n, "trips": t})
               for n, t in (("orchestrated", 4), ("choreographed", 6), ("durable", 2))]
    table = harness.ratios(results)
    assert table.loc["trips", "choreographed / orchestrated"] == 1.5
    assert table.loc["trips", "durable / orchestrated"] == 0.5


def test_orchestrated_bills_transitions_with_retries_and_its_status_write(monkeypatch):
    import datetime as dt

    from ocbook.styles import orchestrated

    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    kinds = ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskFailed", "TaskScheduled",
             "TaskSucceeded", "TaskStateExited", "SucceedStateEntered", "ExecutionSucceeded"]
    history = [{"type": k, "timestamp": t0 + dt.timedelta(seconds=0.05 * i)} for i, k in enumerate(kinds)]
    monkeypatch.setattr(orchestrated.stepfunctions, "events", lambda arn: history)
    saga = styles.Orchestrated(None, {}, "trips", "t", None)
    saga.state_machine = "arn:aws:states:us-east-1:0:stateMachine:sm"
    billed = saga.billed("a", pd.Series({"hotel": 2}), requests=2)
    assert billed["transitions_billed"] == 2 + 1  # two states entered, one retry of the task
    assert billed["express_requests"] == 2 and billed["express_gb_s"] > 0 and billed["ddb_writes"] == 1


def test_choreographed_bills_the_trip_services_writes_and_retries_asynchronously():
    saga = styles.Choreographed(None, {}, "trips", "t", None)
    assert saga.billed("a", pd.Series({"hotel": 1, "trip": 2}), requests=1) == {"ddb_writes": 2}
    assert saga.billed("a", pd.Series({"hotel": 1}), requests=1) == {"ddb_writes": 0}
    assert styles.Choreographed.retries_asynchronously and not styles.Orchestrated.retries_asynchronously


def test_durable_bills_its_invocations_not_its_step_attempts(monkeypatch):
    from ocbook.styles import durable

    found = {"finished": 9.0, "durable_operations": 6, "replays": 1}  # a retried step: one replay
    monkeypatch.setattr(durable.durable, "work", lambda saga, trip_id: found)
    saga = styles.Durable(None, {"hotel": "h"}, "trips", "t", None)
    steps = pd.Series({"hotel": 2, "flight": 1, "car": 1})  # four step attempts, all inside the one function
    assert saga.work("a", pd.DataFrame(), requests=1) == {"finished": 9.0, "durable_operations": 6, "invocations": 2}
    assert saga.function_runs(steps, 2).to_dict() == {"trip": 2}
    assert saga.billed("a", steps, requests=1) == {"ddb_writes": 1}
    chore = styles.Choreographed(None, {}, "trips", "t", None)  # control: one function per service, one run each
    assert chore.function_runs(steps, 4).to_dict() == steps.to_dict()


def test_after_the_pivot_the_choreographed_trip_service_can_alert():
    plain = styles.Choreographed.template()["Resources"]
    pivoted = styles.Choreographed.template(pivot="flight")["Resources"]
    def env(resources, name):
        return resources[f"{name}Function"]["Properties"]["Environment"]["Variables"]
    assert env(pivoted, "Car")["AFTER_PIVOT"] == "true" and "AFTER_PIVOT" not in env(pivoted, "Flight")
    assert "ALERTS_URL" in env(pivoted, "Trip") and "ALERTS_URL" not in env(plain, "Trip")
    assert "CarBookingStuck" in env(pivoted, "Trip")["REACTS_TO"] and "Stuck" not in json.dumps(plain)
