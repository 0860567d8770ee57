"""Figures from ASL definitions."""

from ocbook import diagrams
from orderflow.definition import order_flow


def test_state_machine_has_every_state_and_the_catch_edges():
    source = diagrams.state_machine(order_flow("arn:a", "arn:b", "arn:c")).source
    for state in ("ReserveStock", "TakePayment", "Ship", "OrderShipped", "OrderFailed"):
        assert f'\t{state} [label="{state}\n«' in source  # a node labelled name + «type» (a real newline)
    assert source.count("catch States.ALL") == 3


def test_taken_states_are_highlighted():
    source = diagrams.state_machine(order_flow("a", "b", "c"), taken=["ReserveStock"]).source
    statement = source[source.index("\tReserveStock ["):]
    assert diagrams.TAKEN in statement[: statement.index("]")]
    other = source[source.index("\tShip ["):]
    assert diagrams.TAKEN not in other[: other.index("]")]


def test_parallel_and_map_become_clusters_and_colons_are_safe():
    asl = {"StartAt": "P:1", "States": {
        "P:1": {"Type": "Parallel", "Next": "M", "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}]},
        "M": {"Type": "Map", "End": True,
              "ItemProcessor": {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}}}}
    graph = diagrams.state_machine(asl)
    assert "cluster_P_1_0" in graph.source and "cluster_M_0" in graph.source
    svg = graph.pipe(format="svg")  # dot reads the ':'-free ids; a ':' would fail here or drop nodes
    assert svg.startswith(b"<?xml") and b"<title>P_1</title>" in svg
    assert svg.count(b'class="node"') == 8  # start, end, P:1 and its join, A, M and its join, B


def test_lambda_service_errors_are_one_short_line_in_a_state_label():
    rule = {"ErrorEquals": ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"],
            "MaxAttempts": 6}
    assert diagrams.retry_label(rule) == "\nretry 3 Lambda service errors ×6"
    assert diagrams.retry_label({"ErrorEquals": ["ServiceUnavailable"]}) == "\nretry ServiceUnavailable ×3"


def topology_with(tables: set[str]) -> diagrams.Topology:
    """A topology of deployment 'ch02-dest' (uid 'abc123'), its tables listed without an engine."""
    topo = diagrams.Topology(type("Deployment", (), {"uid": "abc123", "prefix": "ch02-dest"})())
    topo._tables = tables
    return topo


def test_a_table_named_like_a_function_is_the_table_not_the_function():
    topo = topology_with({"ch02-dest-outcomes-abc123"})
    function = topo.node("arn:aws:lambda:us-east-1:000000000000:function:ch02-dest-outcomes-abc123", "function")
    target = diagrams._resolve(topo, "ch02-dest-outcomes-abc123")
    assert target != function and topo.nodes[target] == ("table", "outcomes")


def test_bus_and_function_names_resolve_to_their_nodes_and_other_names_to_nothing_of_ours():
    topo = topology_with(set())
    bus = topo.node("arn:aws:events:us-east-1:000000000000:event-bus/ch02-dest-orders-abc123", "bus")
    function = topo.node("arn:aws:lambda:us-east-1:000000000000:function:ch02-dest-redrive-abc123", "function")
    assert diagrams._resolve(topo, "ch02-dest-orders-abc123") == bus
    assert diagrams._resolve(topo, "ch02-dest-redrive-abc123") == function
    assert diagrams._resolve(topo, "someone-elses-table") is None  # not the deployment's: no node
    assert len(topo.nodes) == 2


def test_a_resource_a_stack_made_is_labelled_with_its_logical_id():
    topo = topology_with(set())
    topo.logical = {"ch05-saga-abc123-CarFunction-4F7F56E4": "CarFunction"}
    stacked = topo.node("arn:aws:lambda:us-east-1:000000000000:function:ch05-saga-abc123-CarFunction-4F7F56E4",
                        "function")
    plain = topo.node("arn:aws:sqs:us-east-1:000000000000:ch02-dest-on-failure-abc123", "queue")
    assert topo.nodes[stacked] == ("function", "CarFunction") and topo.nodes[plain] == ("queue", "on-failure")
