"""Figures drawn with graphviz from what really exists: ASL definitions and the engine's live wiring."""

from __future__ import annotations

import json
from typing import Iterable

import graphviz

from ocbook.clients import all_pages, client

FONT = "Helvetica"
TAKEN = "#fde68a"
SHAPES = {"Task": "box", "Choice": "diamond", "Pass": "box", "Wait": "box", "Parallel": "box3d", "Map": "box3d",
          "Succeed": "box", "Fail": "box"}
KIND_STYLE = {
    "function": ("box", "#dbeafe"), "queue": ("cylinder", "#dcfce7"), "topic": ("hexagon", "#fce7f3"),
    "bus": ("hexagon", "#ede9fe"), "table": ("cylinder", "#fef3c7"), "state machine": ("box3d", "#fee2e2"),
    "bucket": ("folder", "#e0f2fe"), "stream": ("cds", "#f3e8ff"), "api": ("component", "#fef9c3"),
    "other": ("box", "#f3f4f6"),
}


def graph(name: str = "g", rankdir: str = "TB") -> graphviz.Digraph:
    """An empty graph with the book's look (SVG output)."""
    g = graphviz.Digraph(name, format="svg")
    g.attr(rankdir=rankdir, fontname=FONT, bgcolor="transparent")
    g.attr("node", fontname=FONT, fontsize="11", style="rounded,filled", fillcolor="white")
    g.attr("edge", fontname=FONT, fontsize="9")
    return g


def dot(source: str) -> graphviz.Source:
    """A figure from a few lines of DOT (for conceptual sketches in the prose)."""
    return graphviz.Source(source, format="svg")


# ---------------------------------------------------------------- state machines
def state_machine(definition: dict | str, taken: Iterable[str] = (), title: str | None = None) -> graphviz.Digraph:
    """Draw an ASL definition; states in `taken` (e.g. stepfunctions.path(...)) are highlighted."""
    asl = json.loads(definition) if isinstance(definition, str) else definition
    g = graph("statemachine")
    if title:
        g.attr(label=title, labelloc="t")
    g.node("__start", "", shape="circle", width="0.25", style="filled", fillcolor="black")
    g.node("__end", "", shape="doublecircle", width="0.2", style="filled", fillcolor="black")
    _states(g, asl, set(taken), prefix="")
    g.edge("__start", node_id(asl["StartAt"]))
    return g


def node_id(name: str) -> str:
    """A DOT-safe node id for a state name (':' would be read as a port)."""
    return name.replace(":", "_")


def retry_label(rule: dict) -> str:
    """One short line per Retry rule; Lambda's own service errors (AWS's best practice) are named as a group."""
    errors = rule["ErrorEquals"]
    service = [e for e in errors if e.startswith("Lambda.")]
    shown = [e for e in errors if not e.startswith("Lambda.")] + ([f"{len(service)} Lambda service errors"]
                                                                  if service else [])
    return f"\nretry {', '.join(shown)} ×{rule.get('MaxAttempts', 3)}"


def _states(g: graphviz.Digraph, asl: dict, taken: set[str], prefix: str, end: str = "__end") -> None:
    """Add the states of one (sub-)machine, with their transitions."""
    for name, state in asl["States"].items():
        node = node_id(prefix + name)
        kind = state["Type"]
        retry = "".join(retry_label(r) for r in state.get("Retry", []))
        fill = TAKEN if name in taken else ("#fee2e2" if kind == "Fail" else "white")
        g.node(node, f"{name}\n«{kind}»{retry}", shape=SHAPES.get(kind, "box"), fillcolor=fill,
               peripheries="2" if kind in ("Succeed", "Fail") else "1")
        if kind in ("Parallel", "Map"):
            branches = state.get("Branches") or [state.get("ItemProcessor") or state.get("Iterator")]
            for index, branch in enumerate(branches):
                with g.subgraph(name=f"cluster_{node}_{index}") as sub:
                    sub.attr(label=f"{name} branch {index + 1}" if kind == "Parallel" else f"{name} (each item)",
                             style="dashed")
                    inner = f"{node}/{index}/"
                    _states(sub, branch, taken, inner, end=node + "/join")
                g.edge(node, node_id(inner + branch["StartAt"]), style="dotted")
            g.node(node + "/join", "", shape="point")
            _follow(g, node + "/join", state, prefix, end)
            continue
        for choice in state.get("Choices", []):
            g.edge(node, node_id(prefix + choice["Next"]), label=_condition(choice))
        if "Default" in state:
            g.edge(node, node_id(prefix + state["Default"]), label="default")
        for catch in state.get("Catch", []):
            g.edge(node, node_id(prefix + catch["Next"]), label="catch " + ", ".join(catch["ErrorEquals"]),
                   style="dashed", color="#b91c1c", fontcolor="#b91c1c")
        if kind not in ("Choice",):
            _follow(g, node, state, prefix, end)


def _follow(g: graphviz.Digraph, node: str, state: dict, prefix: str, end: str) -> None:
    """The normal exit of a state: Next, End, or a terminal type."""
    if "Next" in state:
        g.edge(node, node_id(prefix + state["Next"]))
    elif state.get("End") or state["Type"] in ("Succeed", "Fail"):
        g.edge(node, end)


def _condition(choice: dict) -> str:
    """A short label for a Choice rule."""
    if "Condition" in choice:
        return choice["Condition"][:40]
    variable = choice.get("Variable", "")
    for key, value in choice.items():
        if key not in ("Variable", "Next"):
            return f"{variable} {key} {value}"[:40]
    return ""


# ---------------------------------------------------------------- live topology
def last_part(name: str) -> str:
    """The name at the end of an ARN, queue URL or name."""
    return name.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


def short(name: str, uid: str, prefix: str) -> str:
    """A resource name without the deployment's prefix and unique suffix."""
    return last_part(name).replace(f"-{uid}", "").replace(f"{prefix}-", "", 1)


class Topology:
    """Collects nodes and edges read from the engine for one deployment."""

    def __init__(self, deployment):
        self.uid, self.prefix = deployment.uid, deployment.prefix
        self.nodes: dict[str, tuple[str, str]] = {}
        self.edges: list[tuple[str, str, str]] = []
        self._tables: set[str] | None = None
        # A stack names its resources <stack>-<LogicalId>-<random>: show the template's logical id instead.
        self.logical = {last_part(r["PhysicalResourceId"]): r["LogicalResourceId"]
                        for stack in getattr(deployment, "stacks", {}) or {}
                        for r in all_pages(client("cloudformation"), "list_stack_resources",
                                           "StackResourceSummaries", StackName=stack)
                        if r.get("PhysicalResourceId")}

    def tables(self) -> set[str]:
        """The names of the deployment's DynamoDB tables (listed once)."""
        if self._tables is None:
            names = all_pages(client("dynamodb"), "list_tables", "TableNames")
            self._tables = {name for name in names if self.ours(name)}
        return self._tables

    def ours(self, name: str) -> bool:
        """True if a name belongs to the deployment."""
        return self.uid in name

    def node(self, key: str, kind: str) -> str:
        """Register a node under a stable key (an ARN or name), labelled with the name the reader knows."""
        self.nodes.setdefault(key, (kind, self.logical.get(last_part(key)) or short(key, self.uid, self.prefix)))
        return key

    def edge(self, source: str, target: str, label: str = "") -> None:
        """Register an edge."""
        self.edges.append((source, target, label))

    def draw(self, rankdir: str = "LR") -> graphviz.Digraph:
        """Render the collected wiring."""
        g = graph("topology", rankdir)
        ids = {key: f"n{index}" for index, key in enumerate(self.nodes)}  # ARNs hold ':' (a DOT port)
        for key, (kind, label) in self.nodes.items():
            shape, fill = KIND_STYLE.get(kind, KIND_STYLE["other"])
            g.node(ids[key], f"{label}\n«{kind}»", shape=shape, fillcolor=fill)
        for source, target, label in dict.fromkeys(self.edges):
            g.edge(ids[source], ids[target], label=label)
        return g


def arn_kind(arn: str) -> str:
    """The node kind of an ARN."""
    service = arn.split(":")[2] if arn.startswith("arn:") else ""
    return {"lambda": "function", "sqs": "queue", "sns": "topic", "events": "bus", "dynamodb": "table",
            "states": "state machine", "s3": "bucket", "kinesis": "stream"}.get(service, "other")


def topology(deployment, rankdir: str = "LR") -> graphviz.Digraph:
    """Draw how a deployment's resources are wired, as read back from the engine (not from our own notes)."""
    topo = Topology(deployment)
    _buses(topo)
    _topics(topo)
    _functions(topo)
    _mappings(topo)
    _queues(topo)
    _state_machines(topo)
    _buckets(topo)
    _apis(topo)
    return topo.draw(rankdir)


def _buses(topo: Topology) -> None:
    events = client("events")
    for bus in all_pages(events, "list_event_buses", "EventBuses"):
        if not topo.ours(bus["Name"]):
            continue
        topo.node(bus["Arn"], "bus")
        for rule in all_pages(events, "list_rules", "Rules", EventBusName=bus["Name"]):
            pattern = json.loads(rule.get("EventPattern") or "{}")
            label = ", ".join(pattern.get("detail-type", [])) or short(rule["Name"], topo.uid, topo.prefix)
            targets = all_pages(events, "list_targets_by_rule", "Targets", Rule=rule["Name"], EventBusName=bus["Name"])
            for target in targets:
                topo.edge(bus["Arn"], topo.node(target["Arn"], arn_kind(target["Arn"])), label)


def _topics(topo: Topology) -> None:
    sns = client("sns")
    for topic in all_pages(sns, "list_topics", "Topics"):
        if topo.ours(topic["TopicArn"]):
            topo.node(topic["TopicArn"], "topic")
            subscriptions = all_pages(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic["TopicArn"])
            for sub in subscriptions:
                topo.edge(topic["TopicArn"], topo.node(sub["Endpoint"], arn_kind(sub["Endpoint"])), sub["Protocol"])


def _functions(topo: Topology) -> None:
    lam = client("lambda")
    functions = [fn for fn in all_pages(lam, "list_functions", "Functions") if topo.ours(fn["FunctionName"])]
    for fn in functions:  # all of them first, so that one function can name another in its environment
        topo.node(fn["FunctionArn"], "function")
    for fn in functions:
        arn = fn["FunctionArn"]
        for value in (fn.get("Environment") or {}).get("Variables", {}).values():
            target = _resolve(topo, value)
            if target:
                topo.edge(arn, target, "writes" if topo.nodes[target][0] == "table" else "sends")
        if fn.get("DeadLetterConfig", {}).get("TargetArn"):
            dlq = fn["DeadLetterConfig"]["TargetArn"]
            topo.edge(arn, topo.node(dlq, arn_kind(dlq)), "DLQ")
        try:
            config = lam.get_function_event_invoke_config(FunctionName=fn["FunctionName"])
        except lam.exceptions.ResourceNotFoundException:
            continue
        for outcome, dest in (config.get("DestinationConfig") or {}).items():
            if dest.get("Destination"):
                topo.edge(arn, topo.node(dest["Destination"], arn_kind(dest["Destination"])),
                          "on success" if outcome == "OnSuccess" else "on failure")


def _resolve(topo: Topology, value: str) -> str | None:
    """Map a function's environment value (an ARN, a queue URL, a table, bus or function name) to a node of ours.

    A name alone does not say what it names, and a table and a function may share one ("outcomes"): tables are
    looked up among the deployment's tables, other names among the nodes already found (buses, functions)."""
    if not topo.ours(value):
        return None
    if value.startswith("arn:"):
        return topo.node(value, arn_kind(value))
    if value.startswith("http"):  # a queue URL: the queue's node is keyed by its ARN
        arn = client("sqs").get_queue_attributes(QueueUrl=value, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return topo.node(arn, "queue")
    if value in topo.tables():
        return topo.node(value, "table")
    for key in topo.nodes:
        if key.endswith((f"/{value}", f":{value}")):  # a bus ARN ends with event-bus/<name>, a function's with :<name>
            return key
    return topo.node(value, "other")


def _mappings(topo: Topology) -> None:
    lam = client("lambda")
    for esm in all_pages(lam, "list_event_source_mappings", "EventSourceMappings"):
        if topo.ours(esm["FunctionArn"]):
            source = esm["EventSourceArn"]
            kind = "table" if ":dynamodb:" in source else arn_kind(source)
            key = source.split("/stream/")[0].rsplit("/", 1)[-1] if kind == "table" else source  # tables by name
            topo.edge(topo.node(key, kind), topo.node(esm["FunctionArn"], "function"),
                      "stream" if kind in ("table", "stream") else "poll")
            failure = (esm.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
            if failure:
                topo.edge(esm["FunctionArn"], topo.node(failure, arn_kind(failure)), "on failure (mapping)")


def _queues(topo: Topology) -> None:
    sqs = client("sqs")
    for url in all_pages(sqs, "list_queues", "QueueUrls"):
        if not topo.ours(url):
            continue
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "RedrivePolicy"])["Attributes"]
        if "RedrivePolicy" in attrs:
            policy = json.loads(attrs["RedrivePolicy"])
            topo.edge(topo.node(attrs["QueueArn"], "queue"), topo.node(policy["deadLetterTargetArn"], "queue"),
                      f"after {policy['maxReceiveCount']} receives")


def _state_machines(topo: Topology) -> None:
    sfn = client("stepfunctions")
    for machine in all_pages(sfn, "list_state_machines", "stateMachines"):
        if topo.ours(machine["name"]):
            arn = topo.node(machine["stateMachineArn"], "state machine")
            definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
            for resource in _task_resources(definition):
                topo.edge(arn, topo.node(resource, arn_kind(resource)), "task")


def _task_resources(asl: dict) -> list[str]:
    """ARNs that the Task states of a definition call (Lambda functions, queues, topics, tables, buses)."""
    found = []
    for state in asl.get("States", {}).values():
        for branch in state.get("Branches", []) + [state.get("ItemProcessor") or state.get("Iterator") or {}]:
            found += _task_resources(branch)
        if state.get("Type") != "Task":
            continue
        params = state.get("Parameters") or state.get("Arguments") or {}
        target = (params.get("FunctionName") or params.get("QueueUrl") or params.get("TopicArn")
                  or params.get("TableName") or state["Resource"])
        if target.startswith("arn:aws:lambda:") or target.startswith("arn:aws:sns:"):
            found.append(target.split(":$")[0])
    return list(dict.fromkeys(found))


def _buckets(topo: Topology) -> None:
    s3 = client("s3")
    for bucket in all_pages(s3, "list_buckets", "Buckets"):
        if topo.ours(bucket["Name"]):
            config = s3.get_bucket_notification_configuration(Bucket=bucket["Name"])
            if not config.get("LambdaFunctionConfigurations"):
                continue  # a bucket that starts nothing (the stacks' code) is storage, not wiring
            key = topo.node(bucket["Name"], "bucket")
            for entry in config["LambdaFunctionConfigurations"]:
                topo.edge(key, topo.node(entry["LambdaFunctionArn"], "function"), ", ".join(entry["Events"]))


def _apis(topo: Topology) -> None:
    api = client("apigateway")
    for rest in all_pages(api, "get_rest_apis", "items"):
        if not topo.ours(rest["name"]):
            continue
        key = topo.node(rest["name"], "api")
        for resource in all_pages(api, "get_resources", "items", restApiId=rest["id"], embed=["methods"]):
            for method in resource.get("resourceMethods") or {}:
                uri = api.get_integration(restApiId=rest["id"], resourceId=resource["id"], httpMethod=method)["uri"]
                if "/functions/" in uri:  # a Lambda (proxy) integration
                    function = uri.split("/functions/", 1)[1].split("/invocations", 1)[0]
                    topo.edge(key, topo.node(function, "function"), f"{method} {resource['path']}")
