"""Coupling measured from the templates: what adding a step changes in each style's template."""

from __future__ import annotations

from ocbook import coupling, styles


def test_adding_a_step_adds_its_resources_in_every_style():
    changes = coupling.add_step("insurance")
    added = changes[changes["change"] == "added"]
    for style in ("orchestrated", "choreographed"):  # a function per service
        assert set(added[added["style"] == style]["resource"]) == {"InsuranceFunction", "InsuranceBookings"}
    assert set(added[added["style"] == "durable"]["resource"]) == {"InsuranceBookings"}  # a step in one function
    assert set(added["owner"]) == {"insurance"} and set(changes["style"]) == set(styles.names())


def test_the_orchestrator_changes_and_no_other_service_does():
    changes = coupling.diff(styles.Orchestrated, "insurance")
    changed = changes[changes["change"] == "changed"].set_index("resource")
    assert list(changed.index) == ["TripSaga"] and changed.loc["TripSaga", "owner"] == "orchestrator"
    assert "DefinitionUri.States" in changed.loc["TripSaga", "where"]  # the .asl.json file counts as the resource's
    assert not changes["other_service"].any()


def test_in_the_choreography_other_services_learn_new_events():
    changes = coupling.diff(styles.Choreographed, "insurance").set_index("resource")
    others = changes[changes["other_service"]]
    assert set(others.index) == {"FlightFunction", "CarFunction", "TripFunction"}
    assert changes.loc["CarFunction", "where"] == "Environment.Variables, Events.Reactions"
    assert changes.loc["CarFunction", "properties"] == 2  # REACTS_TO learns InsuranceBookingFailed; the pattern too
    assert "HotelFunction" not in changes.index  # a service whose reactions stay the same is untouched


def test_an_unchanged_template_has_no_rows_and_a_changed_leaf_is_seen():
    class Fixed(styles.Style):
        """A style whose template does not depend on its steps."""

        name = "fixed"

        @classmethod
        def template(cls, steps=styles.SERVICES):
            return {"Resources": {"Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "b"}}}}

    assert coupling.diff(Fixed, "insurance").empty
    assert not coupling.diff(styles.Choreographed, "insurance").empty  # positive control
    assert coupling.leaves({"a": [1, 2]}) == coupling.leaves({"a": [2, 1]})  # a list of values is a set
    assert coupling.leaves({"a": [{"x": 1}]}) != coupling.leaves({"a": [{"x": 2}]})


def test_the_summary_counts_per_style():
    summary = coupling.summary(coupling.add_step("insurance"))
    assert summary.loc["orchestrated", "resources added"] == summary.loc["choreographed", "resources added"] == 2
    assert summary.loc["orchestrated", "other services' resources changed"] == 0
    assert summary.loc["choreographed", "other services' resources changed"] == 3
    assert summary.loc["choreographed", "their properties changed"] == 8
    assert summary.loc["durable", "resources added"] == 1  # the step's table; the step runs in the one function


def test_the_durable_function_is_the_orchestrator_not_another_service():
    changes = coupling.diff(styles.Durable, "insurance").set_index("resource")
    assert changes.loc["TripFunction", "owner"] == "orchestrator" and not changes["other_service"].any()
    assert "Environment.Variables" in changes.loc["TripFunction", "where"]  # its step list learns the step
    chore = coupling.diff(styles.Choreographed, "insurance").set_index("resource")
    assert chore.loc["TripFunction", "owner"] == "trip"  # control: the choreography's trip service is a service
