"""A Deployment creates resources with unique names and records how to undo each one as it is made."""

from __future__ import annotations

import atexit
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from ocbook import package
from ocbook.clients import ACCOUNT, REGION, client
from ocbook.endpoints import endpoint
from ocbook.wait import poll

LOG = logging.getLogger("ocbook.deploy")
# boto3 waiters poll every 0.2 s (the engine answers in milliseconds) for up to 30 s; a stream up to 60 s.
WAIT_FAST = {"Delay": 0.2, "MaxAttempts": 150}
WAIT_STREAM = {"Delay": 0.2, "MaxAttempts": 300}
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com", "events.amazonaws.com",
                              "pipes.amazonaws.com", "apigateway.amazonaws.com"]}}]}


@dataclass(frozen=True)
class Queue:
    """An SQS queue."""
    name: str
    url: str
    arn: str


@dataclass(frozen=True)
class Function:
    """A Lambda function."""
    name: str
    arn: str


class Deployment:
    """Resources of one chapter run; `teardown()` (or leaving a `with` block) removes them in reverse order."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.uid = uuid.uuid4().hex[:6]
        self.undo: list[tuple[str, Callable[[], Any]]] = []
        self.created: list[tuple[str, str]] = []
        self._role: str | None = None
        self._kinds: dict[tuple[str, str], int] = {}
        self._code_bucket: str | None = None
        self.stacks: dict[str, str] = {}  # stack name -> stack id
        atexit.register(self.teardown)

    def __enter__(self) -> "Deployment":
        return self

    def __exit__(self, *exc) -> None:
        self.teardown()

    def __repr__(self) -> str:
        return f"Deployment({self.prefix!r}, {len(self.created)} resources)"

    # ------------------------------------------------------------ bookkeeping
    def name(self, kind: str, limit: int = 64, family: str = "") -> str:
        """A unique name: <prefix>-<kind>[-<n>]-<uid>; n counts repeats of a kind within a family (queue, bus ...)."""
        self._kinds[family, kind] = count = self._kinds.get((family, kind), 0) + 1
        label = kind if count == 1 else f"{kind}-{count}"
        head = f"{self.prefix}-{label}"[: limit - len(self.uid) - 1]
        return f"{head}-{self.uid}"

    def on_teardown(self, label: str, action: Callable[[], Any]) -> None:
        """Record how to undo something just created."""
        self.undo.append((label, action))

    def record(self, kind: str, name: str, undo: Callable[[], Any]) -> None:
        """Remember a created resource and how to remove it."""
        self.created.append((kind, name))
        self.on_teardown(f"{kind} {name}", undo)

    def teardown(self) -> list[str]:
        """Undo everything in reverse order; log (never raise) failures and return them."""
        failures = []
        while self.undo:
            label, action = self.undo.pop()
            try:
                action()
            except Exception as exc:  # cleanup must go on
                if not any(gone in type(exc).__name__ for gone in ("NotFound", "NonExistent", "DoesNotExist")):
                    failures.append(f"{label}: {exc}")
                    LOG.warning("teardown of %s failed: %s", label, exc)
        self.created.clear()
        return failures

    # ------------------------------------------------------------ IAM
    def role(self) -> str:
        """One execution role for everything in the deployment (LocalStack does not enforce IAM)."""
        if self._role is None:
            iam = client("iam")
            name = self.name("role")
            self._role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
            self.record("role", name, lambda: iam.delete_role(RoleName=name))
        return self._role

    # ------------------------------------------------------------ messaging
    def queue(self, kind: str = "queue", dlq: Queue | None = None, max_receive: int = 3,
              visibility_timeout: int | None = None, **attributes: str) -> Queue:
        """An SQS queue, optionally with a redrive policy to a dead-letter queue."""
        sqs = client("sqs")
        name = self.name(kind, 80, family="queue")
        attrs = {key: str(value) for key, value in attributes.items()}
        if visibility_timeout is not None:
            attrs["VisibilityTimeout"] = str(visibility_timeout)
        if dlq is not None:
            attrs["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": max_receive})
        url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        self.record("queue", name, lambda: sqs.delete_queue(QueueUrl=url))
        return Queue(name, url, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")

    def topic(self, kind: str = "topic") -> str:
        """An SNS topic; returns its ARN."""
        sns = client("sns")
        name = self.name(kind, 256, family="topic")
        arn = sns.create_topic(Name=name)["TopicArn"]
        self.record("topic", name, lambda: sns.delete_topic(TopicArn=arn))
        return arn

    def subscribe(self, topic_arn: str, protocol: str, target: str, raw: bool = True) -> str:
        """Subscribe an SQS queue or Lambda function (by ARN) to a topic; returns the subscription ARN."""
        sns = client("sns")
        attributes = {"RawMessageDelivery": "true"} if raw and protocol == "sqs" else {}
        arn = sns.subscribe(TopicArn=topic_arn, Protocol=protocol, Endpoint=target, Attributes=attributes,
                            ReturnSubscriptionArn=True)["SubscriptionArn"]
        self.record("subscription", arn, lambda: sns.unsubscribe(SubscriptionArn=arn))
        return arn

    def bus(self, kind: str = "bus") -> str:
        """A custom EventBridge bus; returns its name."""
        events = client("events")
        name = self.name(kind, family="bus")
        events.create_event_bus(Name=name)
        self.record("bus", name, lambda: events.delete_event_bus(Name=name))
        return name

    def rule(self, bus: str, pattern: dict, targets: list[str | dict], kind: str = "rule") -> str:
        """A rule on a bus sending matching events to targets (ARNs, or full target dicts); returns its name."""
        events = client("events")
        name = self.name(kind, family="rule")
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
        entries = [t if isinstance(t, dict) else {"Arn": t} for t in targets]
        for index, entry in enumerate(entries):
            entry.setdefault("Id", f"t{index}")
            if entry["Arn"].startswith("arn:aws:states:"):
                entry.setdefault("RoleArn", self.role())
        events.put_targets(Rule=name, EventBusName=bus, Targets=entries)

        def remove():
            events.remove_targets(Rule=name, EventBusName=bus, Ids=[e["Id"] for e in entries])
            events.delete_rule(Name=name, EventBusName=bus)

        self.record("rule", name, remove)
        return name

    # ------------------------------------------------------------ storage
    def table(self, kind: str = "table", key: str = "pk", sort: str | None = None, stream: str | None = None,
              indexes: dict[str, str] | None = None) -> str:
        """A DynamoDB table (string keys, on demand); `stream` is a StreamViewType; `indexes` maps GSI name->key."""
        ddb = client("dynamodb")
        name = self.name(kind, 255, family="table")
        attrs = {key, *([sort] if sort else []), *(indexes or {}).values()}
        args: dict[str, Any] = {
            "TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}]
            + ([{"AttributeName": sort, "KeyType": "RANGE"}] if sort else []),
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attrs)],
        }
        if stream:
            args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
        if indexes:
            args["GlobalSecondaryIndexes"] = [
                {"IndexName": index, "KeySchema": [{"AttributeName": attr, "KeyType": "HASH"}],
                 "Projection": {"ProjectionType": "ALL"}} for index, attr in indexes.items()]
        ddb.create_table(**args)
        self.record("table", name, lambda: ddb.delete_table(TableName=name))
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=WAIT_FAST)
        return name

    def stream_arn(self, table: str) -> str:
        """The latest stream ARN of a table."""
        return client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]

    def bucket(self, kind: str = "bucket") -> str:
        """An S3 bucket (emptied before it is deleted)."""
        s3 = client("s3")
        name = re.sub(r"[^a-z0-9.-]", "-", self.name(kind, 63, family="bucket").lower())  # S3's naming rules
        s3.create_bucket(Bucket=name)

        def remove():
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
                for obj in page.get("Contents", []):
                    s3.delete_object(Bucket=name, Key=obj["Key"])
            s3.delete_bucket(Bucket=name)

        self.record("bucket", name, remove)
        return name

    def stream(self, kind: str = "stream", shards: int = 1) -> str:
        """A Kinesis stream; returns its ARN once ACTIVE."""
        kinesis = client("kinesis")
        name = self.name(kind, 128, family="stream")
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        self.record("stream", name, lambda: kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True))
        kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig=WAIT_STREAM)
        return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]

    # ------------------------------------------------------------ compute
    def layer(self, kind: str, archive: bytes) -> str:
        """A Lambda layer version from a zip (see package.layer_zip); returns its version ARN."""
        lam = client("lambda")
        name = self.name(kind, family="layer")
        version = lam.publish_layer_version(LayerName=name, Content={"ZipFile": archive},
                                            CompatibleRuntimes=["python3.11", "python3.12", "python3.13"])
        self.record("layer", name, lambda: lam.delete_layer_version(LayerName=name,
                                                                   VersionNumber=version["Version"]))
        return version["LayerVersionArn"]

    def function(self, kind: str, handler: str, packages: tuple[str, ...] | None = None,
                 env: dict[str, str] | None = None, timeout: int = 10, memory: int = 128,
                 layers: list[str] | None = None, runtime: str = "python3.12", dlq: str | None = None,
                 tracing: str | None = None, durable: dict | None = None) -> Function:
        """A Lambda function whose code is the handler's package under code/functions (plus fnlib)."""
        lam = client("lambda")
        logs = client("logs")
        name = self.name(kind, family="function")
        args: dict[str, Any] = dict(
            FunctionName=name, Runtime=runtime, Handler=handler, Role=self.role(), Timeout=timeout,
            MemorySize=memory, Code={"ZipFile": package.function_zip(*(packages or (handler.split(".")[0],)))},
            Environment={"Variables": env or {}}, Layers=layers or [])
        if dlq:
            args["DeadLetterConfig"] = {"TargetArn": dlq}
        if tracing:
            args["TracingConfig"] = {"Mode": tracing}  # "Active" or "PassThrough" (X-Ray)
        if durable is not None:
            args["DurableConfig"] = durable  # a durable function: {"ExecutionTimeout": s, "RetentionPeriodInDays": d}
        arn = lam.create_function(**args)["FunctionArn"]

        def remove():
            lam.delete_function(FunctionName=name)
            try:
                logs.delete_log_group(logGroupName=f"/aws/lambda/{name}")
            except logs.exceptions.ResourceNotFoundException:
                pass

        self.record("function", name, remove)
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=WAIT_FAST)
        return Function(name, arn)

    def async_config(self, function: Function, retries: int | None = None, max_age: int | None = None,
                     on_success: str | None = None, on_failure: str | None = None) -> None:
        """Set a function's asynchronous invocation settings (retries, event age, destinations)."""
        args: dict[str, Any] = {"FunctionName": function.name}
        if retries is not None:
            args["MaximumRetryAttempts"] = retries
        if max_age is not None:
            args["MaximumEventAgeInSeconds"] = max_age
        destinations = {}
        if on_success:
            destinations["OnSuccess"] = {"Destination": on_success}
        if on_failure:
            destinations["OnFailure"] = {"Destination": on_failure}
        if destinations:
            args["DestinationConfig"] = destinations
        client("lambda").put_function_event_invoke_config(**args)

    def mapping(self, function: Function, source_arn: str, **settings: Any) -> str:
        """An event source mapping (SQS, Kinesis, DynamoDB Streams) to a function; returns its UUID once enabled."""
        lam = client("lambda")
        if not source_arn.startswith("arn:aws:sqs:"):
            settings.setdefault("StartingPosition", "TRIM_HORIZON")
        uid = lam.create_event_source_mapping(FunctionName=function.name, EventSourceArn=source_arn,
                                              **settings)["UUID"]
        self.record("mapping", uid, lambda: lam.delete_event_source_mapping(UUID=uid))
        poll(lambda: lam.get_event_source_mapping(UUID=uid)["State"] == "Enabled", 60,
             what=f"event source mapping to {function.name} to be enabled")
        return uid

    def allow(self, function: Function, principal: str, source_arn: str | None = None) -> None:
        """Let a service principal invoke a function (recorded for realism; LocalStack does not enforce it)."""
        args = {"FunctionName": function.name, "StatementId": uuid.uuid4().hex[:12],
                "Action": "lambda:InvokeFunction", "Principal": principal}
        if source_arn:
            args["SourceArn"] = source_arn
        client("lambda").add_permission(**args)

    def state_machine(self, kind: str, definition: dict, type: str = "STANDARD", tracing: bool = False) -> str:
        """A Step Functions state machine from an ASL definition (a dict), X-Ray tracing optional; returns its ARN."""
        sfn = client("stepfunctions")
        name = self.name(kind, 80, family="state_machine")
        arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=self.role(), type=type,
                                       tracingConfiguration={"enabled": tracing})["stateMachineArn"]
        self.record("state machine", name, lambda: sfn.delete_state_machine(stateMachineArn=arn))
        return arn

    def rest_api(self, kind: str, function: Function, path: str = "invoke") -> str:
        """A REST API with POST /<path> proxied to a function; returns the URL to call."""
        api = client("apigateway")
        name = self.name(kind, family="rest_api")
        api_id = api.create_rest_api(name=name)["id"]
        self.record("rest api", name, lambda: api.delete_rest_api(restApiId=api_id))
        root = next(r["id"] for r in api.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
        resource = api.create_resource(restApiId=api_id, parentId=root, pathPart=path)["id"]
        api.put_method(restApiId=api_id, resourceId=resource, httpMethod="POST", authorizationType="NONE")
        uri = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function.arn}/invocations"
        api.put_integration(restApiId=api_id, resourceId=resource, httpMethod="POST", type="AWS_PROXY",
                            integrationHttpMethod="POST", uri=uri)
        api.create_deployment(restApiId=api_id, stageName="test")
        return f"{endpoint()}/_aws/execute-api/{api_id}/test/{path}"

    def notify(self, bucket: str, function: Function, events: tuple[str, ...] = ("s3:ObjectCreated:*",)) -> None:
        """Invoke a function on S3 events of a bucket."""
        client("s3").put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"LambdaFunctionArn": function.arn, "Events": list(events)}]})

    # ------------------------------------------------------------ infrastructure as code
    def stack_names(self) -> tuple[str, ...]:
        """The stacks this deployment created (even one that failed)."""
        return tuple(name for kind, name in self.created if kind == "stack")

    def stack(self, kind: str, template: str | dict, parameters: dict[str, str] | None = None,
              progress: bool = True, timeout: float = 180) -> dict[str, str]:
        """A CloudFormation stack from a SAM template (a name under templates/, a path, or a dict): the handler
        code is zipped and uploaded to a bucket of the deployment, the stack is created and waited for, and
        deleted at teardown. Returns the stack's outputs; a failure names the resource that failed and why."""
        from ocbook import stacks

        stacks.clear_leftovers(self.prefix, kind, exclude=self.stack_names())  # ours are no leftovers
        name = self.name(kind, 128, family="stack")
        packaged = self.packaged(template)
        stacks.create(name, packaged, parameters, stacks.tags(self.prefix, kind))
        self.record("stack", name, lambda: (stacks.delete(name), stacks.delete_log_groups(name),
                                            stacks.clear_leftovers(self.prefix, exclude=self.stack_names())))
        began = time.monotonic()
        described = stacks.wait_created(name, timeout, progress)
        self.stacks[name] = described["StackId"]
        if progress:
            count = len(client("cloudformation").describe_stack_resources(StackName=name)["StackResources"])
            logical = name.removesuffix(f"-{self.uid}")  # what the reader knows it by, without the unique suffix
            print(f"stack {logical}: {count} resources created in {time.monotonic() - began:.1f} s")
        return stacks.outputs(described)

    def packaged(self, template: str | dict) -> dict:
        """A template (a name under templates/, a path, or a dict) with its code uploaded to the deployment's
        bucket, as `sam package` does."""
        from ocbook import stacks, templates

        body = templates.load(template) if not isinstance(template, dict) else template
        base = templates.located(template).parent if not isinstance(template, dict) else templates.FOLDER
        s3 = client("s3")
        bucket = self._code_bucket or self.bucket("stack-code")
        self._code_bucket = bucket

        def upload(key: str, data: bytes) -> str:
            s3.put_object(Bucket=bucket, Key=key, Body=data)
            return f"s3://{bucket}/{key}"

        return stacks.packaged(body, upload, base)

    def update_stack(self, name: str, template: str | dict, parameters: dict[str, str] | None = None,
                     progress: bool = True, timeout: float = 180) -> dict[str, str]:
        """Update one of this deployment's stacks to another template (CloudFormation changes what differs, as
        `sam deploy` would); returns the stack's outputs. A failed update names the resource and why."""
        from ocbook import stacks

        if name not in self.stacks:
            raise ValueError(f"update_stack: {name!r} is not a stack of deployment {self.prefix!r} "
                             f"(its stacks: {', '.join(self.stacks) or 'none'})")
        began = time.monotonic()
        if stacks.update(name, self.packaged(template), parameters):
            described = stacks.wait_updated(name, timeout, progress)
        else:
            described = stacks.describe(name)
        if progress:
            print(f"stack {name}: updated in {time.monotonic() - began:.1f} s")
        return stacks.outputs(described)
