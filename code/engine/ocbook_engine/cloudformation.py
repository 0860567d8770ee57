"""CloudFormation on the engine closer to AWS: rule updates, rule deletion on a custom bus, deleting what an update
added.

``AWS::Events::Rule`` updates, made as AWS makes them (LocalStack's provider has none).

LocalStack 2026.3.0's rule resource provider raises ``NotImplementedError`` from ``update``; its deployer then
logs a warning, keeps the old resource and reports ``UPDATE_COMPLETE``. A stack update that changes a rule's
pattern or targets therefore "succeeds" while EventBridge keeps routing the old events to the old targets.

AWS's resource reference (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-events-rule.html)
says which changes are made in place: ``Description``, ``EventPattern``, ``RoleArn``, ``ScheduleExpression``,
``State`` and ``Targets`` ("Update requires: No interruption"); ``Name`` and ``EventBusName`` need a new rule
("Update requires: Replacement"). LocalStack's change-set engine already replaces a resource when one of its
schema's ``createOnlyProperties`` changes (for this type: ``Name`` and ``EventBusName``) by creating the new one
and deleting the old; what it lacks is the in-place half. The ``update`` below is that half:

- ``PutRule`` on the same rule with every mutable property as the template now states it (PutRule replaces
  the whole rule: a property the template no longer sets is cleared, as on AWS);
- the targets: ``RemoveTargets`` for ids the template no longer lists, then ``PutTargets`` for the listed ones
  (a target with an id that stays is updated in place).

LocalStack's ``delete`` looks the rule up without its bus, so a rule on a custom bus was never deleted (the
"not found" it met counted as deleted): the old rule of a replacement stayed, still routing events. ``delete``
below names the bus (``Id`` is ``bus|name`` for a rule on a custom bus).

A stack's deletion: LocalStack deletes the resources of the stack's *processed* template (after the SAM
transform). ``UpdateStack`` never stores the processed template it deployed (``ExecuteChangeSet`` and
``CreateStack`` do), so deleting an updated stack left every resource the update had added (a new step's
function, role and table). ``remember_processed_template`` stores it after a successful execution, as the other
two paths do.

All are applied by an ``on_infra_start`` hook, only on the localstack-core version they were written for.
"""

from __future__ import annotations

import json
import logging

from localstack.runtime import hooks

from ocbook_engine import guard

LOG = logging.getLogger(__name__)

IN_PLACE = ("Description", "EventPattern", "RoleArn", "ScheduleExpression", "State")  # besides Targets


def pattern_text(pattern) -> str:
    """An EventPattern as PutRule takes it: JSON text, single values wrapped in lists as LocalStack's create
    does (CloudFormation accepts ``{"source": "x"}`` for ``{"source": ["x"]}``)."""
    from localstack.services.events.resource_providers.aws_events_rule import MATCHING_OPERATIONS
    from localstack.utils import common

    if not isinstance(pattern, dict):
        return pattern

    def wrap(node, **_):
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(value, (dict, list)) and key not in MATCHING_OPERATIONS:
                    node[key] = [value]
        return node

    return json.dumps(common.recurse_object(pattern, wrap))


def target_ids(events, rule: str, bus: str | None) -> list[str]:
    """The ids of a rule's targets, every page."""
    ids, token = [], None
    while True:
        page = events.list_targets_by_rule(Rule=rule, **({"EventBusName": bus} if bus else {}),
                                           **({"NextToken": token} if token else {}))
        ids += [target["Id"] for target in page.get("Targets", [])]
        token = page.get("NextToken")
        if not token:
            return ids


def update(self, request):
    """Update the rule in place: its pattern, schedule, state, description, role, and its targets."""
    import localstack.services.cloudformation.provider_utils as util
    from localstack.services.cloudformation.resource_provider import OperationStatus, ProgressEvent
    from localstack.services.events.resource_providers.aws_events_rule import extract_rule_name

    model, previous = request.desired_state, request.previous_state or {}
    events = request.aws_client_factory.events
    model["Id"], model["Arn"] = previous["Id"], previous["Arn"]  # read-only; Name and bus are create-only
    rule, bus = extract_rule_name(previous["Id"]), model.get("EventBusName")
    on_bus = {"EventBusName": bus} if bus else {}
    params = {key: model[key] for key in IN_PLACE if model.get(key) is not None}
    if "EventPattern" in params:
        params["EventPattern"] = pattern_text(params["EventPattern"])
    events.put_rule(Name=rule, **on_bus, **params)

    wanted = model.get("Targets") or []
    stale = [i for i in target_ids(events, rule, bus) if i not in {t["Id"] for t in wanted}]
    if stale:
        events.remove_targets(Rule=rule, Ids=stale, Force=True, **on_bus)
    if wanted:
        put = util.convert_request_kwargs({"Rule": rule, "Targets": wanted, **on_bus},
                                          events.meta.service_model.operation_model("PutTargets").input_shape)
        answer = events.put_targets(**put)
        if answer.get("FailedEntryCount"):
            return ProgressEvent(status=OperationStatus.FAILED, resource_model=model,
                                 message=f"PutTargets failed: {answer.get('FailedEntries')}")
    return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model,
                         custom_context=request.custom_context)


def delete(self, request):
    """Delete the rule and its targets, on its own bus."""
    from localstack.services.cloudformation.resource_provider import OperationStatus, ProgressEvent

    model = request.desired_state
    events = request.aws_client_factory.events
    bus, _, rule = model["Id"].rpartition("|")
    on_bus = {"EventBusName": bus} if bus else {}
    ids = target_ids(events, rule, bus or None)
    if ids:
        events.remove_targets(Rule=rule, Ids=ids, Force=True, **on_bus)
    events.delete_rule(Name=rule, **on_bus)
    return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model,
                         custom_context=request.custom_context)


def remember_processed_template(execute):
    """ChangeSetModelExecutor.execute, then (on success) the stack keeps the processed template it now runs."""
    def run(self):
        result = execute(self)
        change_set = self._change_set
        if change_set.processed_template is not None and not result.failure_message:
            change_set.stack.processed_template = change_set.processed_template
        return result

    return run


@hooks.on_infra_start()
def patch_cloudformation() -> None:
    """Give LocalStack's AWS::Events::Rule provider AWS's in-place update and a delete on the rule's bus; let an
    updated stack's deletion delete what the update added."""
    if not guard.applies("CloudFormation", "stack updates keep rules' old patterns and leave added resources"):
        return
    from localstack.services.cloudformation.engine.v2.change_set_model_executor import ChangeSetModelExecutor
    from localstack.services.events.resource_providers.aws_events_rule import EventsRuleProvider

    EventsRuleProvider.update = update
    EventsRuleProvider.delete = delete
    ChangeSetModelExecutor.execute = remember_processed_template(ChangeSetModelExecutor.execute)
    LOG.info("ocbook-engine: %s applied", __name__)
