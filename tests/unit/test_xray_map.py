"""ocbook.xray: a GetServiceGraph answer as the map's nodes and edges (no engine needed)."""

from __future__ import annotations

from ocbook import xray


def stats(ok: int, fault: int = 0, error: int = 0, seconds: float = 0.0) -> dict:
    """X-Ray summary statistics."""
    return {"OkCount": ok, "TotalCount": ok + fault + error, "TotalResponseTime": seconds,
            "ErrorStatistics": {"TotalCount": error}, "FaultStatistics": {"TotalCount": fault}}


def service(ref: int, name: str, kind: str, own: dict, edges: list[tuple[int, dict]]) -> dict:
    """One Service of a GetServiceGraph answer."""
    return {"ReferenceId": ref, "Name": name, "Type": kind, "SummaryStatistics": own,
            "Edges": [{"ReferenceId": callee, "SummaryStatistics": s} for callee, s in edges]}


GRAPH = [service(0, "client", "", stats(2), [(1, stats(2))]),
         service(1, "EventBridge", "AWS::Events", stats(2), [(2, stats(2))]),
         service(2, "fn-hotel-1a2b", "AWS::Lambda", stats(2), [(3, stats(1, fault=1))]),
         service(3, "fn-hotel-1a2b", "AWS::Lambda::Function", stats(1, fault=1, seconds=0.5),
                 [(4, stats(3, error=1)), (1, stats(1))]),
         service(4, "DynamoDB", "AWS::DynamoDB::Table", stats(3, error=1), [])]


def test_lambdas_two_nodes_become_one_named_as_the_reader_knows_it():
    nodes, edges = xray.nodes_and_edges(GRAPH, {"fn-hotel-1a2b": "hotel"})
    assert list(nodes["node"]) == ["client", "EventBridge", "hotel", "DynamoDB"]
    hotel = nodes.set_index("node").loc["hotel"]
    assert (hotel["ok"], hotel["fault"], hotel["type"]) == (1, 1, "Lambda function")  # the function's figures
    pairs = {(r["caller"], r["callee"]): r["total"] for r in edges.to_dict("records")}
    assert pairs == {("client", "EventBridge"): 2, ("EventBridge", "hotel"): 2, ("hotel", "DynamoDB"): 4,
                     ("hotel", "EventBridge"): 1}  # no hotel -> hotel edge


def test_the_map_draws_publishing_edges_back_to_the_bus_without_pushing_it_right():
    source = xray.service_map(GRAPH, {"fn-hotel-1a2b": "hotel"}).source
    back = [line for line in source.splitlines() if "hotel -> EventBridge" in line]
    forward = [line for line in source.splitlines() if "EventBridge -> hotel" in line]
    assert back and "constraint=false" in back[0] and "dashed" in back[0]
    assert forward and "constraint=false" not in forward[0]
    assert "1 fault" in source and "rankdir=LR" in source
