"""CloudFormation stacks from the SAM templates: package the code, create, wait with progress, explain failures.

Deployment.stack uses these; what `sam package` does (local CodeUri -> an S3 object) is done here with
ocbook.package, so the same template deploys with `sam deploy` on AWS and with Deployment.stack on the engine.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable

from ocbook import package
from ocbook.clients import client
from ocbook.wait import poll

LOG = logging.getLogger("ocbook.stacks")
FUNCTION, MACHINE = "AWS::Serverless::Function", "AWS::Serverless::StateMachine"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]  # SAM makes roles; the transform is a macro
GONE = {"DELETE_COMPLETE"}
CREATED = {"CREATE_COMPLETE"}
FAILED_CREATE = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "ROLLBACK_IN_PROGRESS"}
UPDATED = {"UPDATE_COMPLETE"}
FAILED_UPDATE = {"UPDATE_FAILED", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED"}
TAG_DEPLOYMENT, TAG_KIND, TAG_PID = "ocbook:deployment", "ocbook:kind", "ocbook:pid"


class StackFailed(RuntimeError):
    """A stack did not reach the state asked for; the message names the failing resource and its reason."""


def packaged(template: dict, upload: Callable[[str, bytes], str], base: Path) -> dict:
    """The template with local files replaced by uploaded objects (s3://bucket/key), as `sam package` does.

    A function's CodeUri becomes a zip of its handler's package under code/functions plus fnlib
    (ocbook.package.function_zip); a state machine's DefinitionUri (a file next to the template, under `base`)
    is uploaded as it is. `upload(key, data)` stores an object and returns its s3:// URI.
    """
    result = copy.deepcopy(template)
    local = result.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    uploaded: dict[str, str] = {}
    for resource in result.get("Resources", {}).values():
        if resource.get("Type") != FUNCTION:
            continue
        properties = resource.setdefault("Properties", {})
        uri = properties.get("CodeUri", local)
        if isinstance(uri, dict) or (isinstance(uri, str) and uri.startswith("s3://")):
            continue
        top = properties["Handler"].split(".")[0]
        if top not in uploaded:
            data = package.function_zip(top)
            uploaded[top] = upload(f"{top}-{hashlib.sha256(data).hexdigest()[:12]}.zip", data)
        properties["CodeUri"] = uploaded[top]
    for resource in result.get("Resources", {}).values():
        definition = resource.get("Properties", {}).get("DefinitionUri")
        if resource.get("Type") == MACHINE and isinstance(definition, str) and not definition.startswith("s3://"):
            data = (base / definition).read_bytes()
            key = f"{hashlib.sha256(data).hexdigest()[:12]}-{Path(definition).name}"
            resource["Properties"]["DefinitionUri"] = upload(key, data)
    return result


def failure(name: str) -> str:
    """The first resource that failed in a stack's events, and why (events come newest first)."""
    events = []
    for page in client("cloudformation").get_paginator("describe_stack_events").paginate(StackName=name):
        events.extend(page["StackEvents"])
    for event in reversed(events):  # oldest first: the root cause, not the cancellations it caused
        reason = event.get("ResourceStatusReason") or ""
        if event["ResourceStatus"].endswith("_FAILED") and event["LogicalResourceId"] != name \
                and "cancelled" not in reason.lower():
            return f"{event['LogicalResourceId']} ({event['ResourceType']}): {reason or 'no reason given'}"
    status = describe(name) or {}
    return f"{status.get('StackStatus', 'gone')}: {status.get('StackStatusReason') or 'no reason given'}"


def describe(name: str) -> dict | None:
    """A stack's description, or None once it is gone."""
    cfn = client("cloudformation")
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except cfn.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return stacks[0] if stacks and stacks[0]["StackStatus"] not in GONE else None


def wait_created(name: str, timeout: float = 180, progress: bool = True, label: str = "") -> dict:
    """Wait for CREATE_COMPLETE, showing resources as they complete (under `label`, e.g. the template's name,
    instead of the stack's unique name); raise StackFailed with the cause."""
    return watch(name, "created", CREATED, FAILED_CREATE, timeout, progress, label)


def update(name: str, template: dict, parameters: dict[str, str] | None = None) -> bool:
    """Start updating a stack to a (packaged) template; False when the template changes nothing."""
    cfn = client("cloudformation")
    try:
        cfn.update_stack(StackName=name, TemplateBody=json.dumps(template), Capabilities=CAPABILITIES,
                         Parameters=stack_parameters(parameters))
    except cfn.exceptions.ClientError as exc:
        if "No updates are to be performed" in str(exc):
            return False
        raise
    return True


def wait_updated(name: str, timeout: float = 180, progress: bool = True, label: str = "") -> dict:
    """Wait for UPDATE_COMPLETE (old resources cleaned up), showing resources as they change (under `label`);
    raise StackFailed with the cause."""
    return watch(name, "updated", UPDATED, FAILED_UPDATE, timeout, progress, label)


def watch(name: str, verb: str, finished: set[str], failed: set[str], timeout: float, progress: bool,
          label: str = "") -> dict:
    """Poll a stack until its status is in `finished` or `failed`, a progress bar (named `label`, else the stack's
    name) counting each resource event that completes after the start; the stack's description, or StackFailed
    with the cause (which names the stack itself)."""
    from tqdm.auto import tqdm

    began = client("cloudformation").describe_stack_events(StackName=name)["StackEvents"]
    seen = {event["EventId"] for event in began}
    label = f"stack {label or name}" + ("" if verb == "created" else " (update)")
    with tqdm(desc=label, unit=" resources", disable=not progress, leave=False) as bar:
        def settled():
            for event in client("cloudformation").describe_stack_events(StackName=name)["StackEvents"]:
                if event["EventId"] not in seen and event["ResourceStatus"].endswith("_COMPLETE") \
                        and event["LogicalResourceId"] != name:
                    seen.add(event["EventId"])
                    bar.update(1)
                    bar.set_postfix_str(event["LogicalResourceId"], refresh=False)
            status = describe(name)["StackStatus"]
            return status if status in finished | failed else None

        status = poll(settled, timeout, interval=0.2, what=f"stack {name} to be {verb}")
    if status not in finished:
        raise StackFailed(f"stack {name} was not {verb} ({status}): {failure(name)}")
    return describe(name)


def delete(name: str, timeout: float = 180) -> None:
    """Delete a stack and wait until it is gone; raise StackFailed with the resource that stayed."""
    client("cloudformation").delete_stack(StackName=name)

    def gone():
        found = describe(name)
        if found and found["StackStatus"] == "DELETE_FAILED":
            raise StackFailed(f"stack {name} could not be deleted: {failure(name)}")
        return found is None

    poll(gone, timeout, interval=0.2, what=f"stack {name} to be deleted")


def outputs(stack: dict) -> dict[str, str]:
    """A described stack's outputs as a dict."""
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def alive(pid: int) -> bool:
    """Whether a process of this machine still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def listed() -> list[dict]:
    """Every stack the engine knows; a clear StackFailed if it does not run CloudFormation at all."""
    cfn = client("cloudformation")
    try:
        return [stack for page in cfn.get_paginator("describe_stacks").paginate() for stack in page["Stacks"]]
    except cfn.exceptions.ClientError as exc:
        if "is not enabled" in str(exc):
            raise StackFailed("this LocalStack does not run CloudFormation: add cloudformation to its SERVICES "
                              "(the embedded engine has it unless SERVICES is set without it)") from None
        raise


def leftovers(prefix: str, kind: str | None = None) -> list[tuple[str, bool]]:
    """Stacks of an earlier run of the same deployment (and kind, if given): (name, its creating process still
    runs)."""
    found = []
    for stack in listed():
        tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
        if stack["StackStatus"] in GONE or tags.get(TAG_DEPLOYMENT) != prefix \
                or kind is not None and tags.get(TAG_KIND) != kind:
            continue
        pid = int(tags.get(TAG_PID, "0") or 0)
        found.append((stack["StackName"], pid == os.getpid() or alive(pid)))
    return found


def clear_leftovers(prefix: str, kind: str | None = None, exclude: tuple[str, ...] = ()) -> list[str]:
    """Delete stacks an interrupted run of this deployment left behind; report (never touch) live ones, and
    report one that cannot be deleted with the reason and the command to retry, without stopping."""
    removed = []
    for name, live in leftovers(prefix, kind):
        if name in exclude:
            continue
        if live:
            LOG.warning("stack %s (deployment %s) belongs to a process that still runs; left alone", name, prefix)
            print(f"note: stack {name} of deployment {prefix!r} belongs to a running process; left alone")
            continue
        print(f"deleting stack {name}, left behind by an interrupted run of deployment {prefix!r}")
        try:
            delete(name)
        except StackFailed as exc:
            print(f"note: {exc}; retry with `aws cloudformation delete-stack --stack-name {name}` "
                  f"(add --endpoint-url for the engine)")
            continue
        removed.append(name)
    return removed


def tags(prefix: str, kind: str) -> list[dict]:
    """The tags that let a later run find this stack if this one is interrupted."""
    return [{"Key": TAG_DEPLOYMENT, "Value": prefix}, {"Key": TAG_KIND, "Value": kind},
            {"Key": TAG_PID, "Value": str(os.getpid())}]


def stack_parameters(parameters: dict[str, str] | None) -> list[dict]:
    """Parameters as CloudFormation takes them."""
    return [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in (parameters or {}).items()]


def create(name: str, template: dict, parameters: dict[str, str] | None, tags: list[dict]) -> None:
    """Start creating a stack from a (packaged) template."""
    client("cloudformation").create_stack(
        StackName=name, TemplateBody=json.dumps(template), Capabilities=CAPABILITIES, Tags=tags,
        Parameters=stack_parameters(parameters))


def delete_log_groups(name: str) -> None:
    """Delete the log groups the stack's functions wrote (CloudFormation does not own them, on AWS neither)."""
    logs = client("logs")
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=f"/aws/lambda/{name}-"):
        for group in page["logGroups"]:
            logs.delete_log_group(logGroupName=group["logGroupName"])


def remains(name: str) -> list[str]:
    """Resources whose names start with a stack's name (CloudFormation names them so): what a deletion left."""
    lam, ddb, sqs, sfn = client("lambda"), client("dynamodb"), client("sqs"), client("stepfunctions")
    events, iam, logs = client("events"), client("iam"), client("logs")
    head = f"{name}-"
    found = [f"function {f['FunctionName']}" for page in lam.get_paginator("list_functions").paginate()
             for f in page["Functions"] if f["FunctionName"].startswith(head)]
    found += [f"table {t}" for page in ddb.get_paginator("list_tables").paginate()
              for t in page["TableNames"] if t.startswith(head)]
    found += [f"queue {u}" for u in sqs.list_queues(QueueNamePrefix=head).get("QueueUrls", [])]
    found += [f"state machine {m['name']}" for page in sfn.get_paginator("list_state_machines").paginate()
              for m in page["stateMachines"] if m["name"].startswith(head)]
    found += [f"bus {b['Name']}" for b in events.list_event_buses(NamePrefix=head)["EventBuses"]]
    found += [f"role {r['RoleName']}" for page in iam.get_paginator("list_roles").paginate()
              for r in page["Roles"] if r["RoleName"].startswith(head)]
    found += [f"log group {g['logGroupName']}" for page in logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix=f"/aws/lambda/{head}") for g in page["logGroups"]]
    return found
