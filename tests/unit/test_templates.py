"""The SAM templates: committed files equal what the code generates, least privilege, wiring from the sources."""

from __future__ import annotations

import importlib
import io
import json
import re
import zipfile

import pytest

from booking import contract
from ocbook import stacks, templates

FUNCTION = "AWS::Serverless::Function"


@pytest.mark.parametrize("filename", list(templates.TEMPLATES))
def test_committed_file_is_what_the_code_generates(filename):
    committed = templates.FOLDER / filename
    assert committed.exists(), f"templates/{filename} is missing: run `make templates` and commit it"
    assert committed.read_text() == templates.text(filename), \
        f"templates/{filename} differs from what code/ocbook/templates.py generates: run `make templates`"


def test_a_changed_source_changes_the_generated_text():
    """Positive control for the comparison above: a fourth step shows up in the generated saga."""
    four = templates.saga_choreographed(("hotel", "flight", "car", "insurance"))
    assert "InsuranceFunction" in four["Resources"]
    assert "InsuranceFunction" not in templates.load("saga-choreographed")["Resources"]


def yaml_templates() -> list[str]:
    return [name for name in templates.TEMPLATES if name.endswith(".yaml")]


def actions(node) -> list[str]:
    """Every IAM action named anywhere in a template."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Action":
                found.extend(value if isinstance(value, list) else [value])
            else:
                found.extend(actions(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(actions(item))
    return found


@pytest.mark.parametrize("filename", yaml_templates())
def test_no_wildcard_actions_and_every_function_has_policies_and_a_real_handler(filename):
    template = templates.load(templates.FOLDER / filename)
    assert not [a for a in actions(template) if "*" in a]
    for name, resource in template["Resources"].items():
        if resource["Type"] == FUNCTION:
            handler = resource["Properties"]["Handler"]
            module, attribute = handler.rsplit(".", 1)
            assert callable(getattr(importlib.import_module(module), attribute)), f"{name}: {handler}"
            assert "Policies" in resource["Properties"], name


def test_wildcard_finder_sees_a_wildcard():
    """Positive control for the least-privilege check."""
    assert actions({"Statement": [{"Action": ["sqs:*"]}]}) == ["sqs:*"]


def test_choreographed_rules_come_from_the_event_contract():
    resources = templates.load("saga-choreographed")["Resources"]
    for service, reacts_to in contract.REACTIONS.items():
        properties = resources[f"{service.capitalize()}Function"]["Properties"]
        assert properties["Events"]["Reactions"]["Properties"]["Pattern"] == contract.pattern(reacts_to)
        assert json.loads(properties["Environment"]["Variables"]["REACTS_TO"]) == reacts_to
        assert properties["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"] == "SQS"


@pytest.mark.parametrize("name", ["saga-orchestrated", "orders-orchestrated"])
def test_every_placeholder_of_a_definition_has_a_substitution(name):
    machine = next(r for r in templates.load(name)["Resources"].values() if r["Type"] == stacks.MACHINE)
    asl = (templates.FOLDER / machine["Properties"]["DefinitionUri"]).read_text()
    placeholders = set(re.findall(r"\$\{(\w+)\}", asl))
    assert placeholders and placeholders == set(machine["Properties"]["DefinitionSubstitutions"])


def test_packaging_uploads_each_handler_package_once_and_the_definition_file():
    uploads: dict[str, bytes] = {}

    def upload(key: str, data: bytes) -> str:
        uploads[key] = data
        return f"s3://code/{key}"

    template = templates.load("saga-orchestrated")
    result = stacks.packaged(template, upload, templates.FOLDER)
    functions = [r for r in result["Resources"].values() if r["Type"] == FUNCTION]
    assert {f["Properties"]["CodeUri"] for f in functions} == {f"s3://code/{k}" for k in uploads if k.endswith(".zip")}
    (key,) = [k for k in uploads if k.endswith(".zip")]  # three functions, one package
    names = zipfile.ZipFile(io.BytesIO(uploads[key])).namelist()
    assert "booking/orchestrated.py" in names and "fnlib/trace.py" in names
    machine = next(r for r in result["Resources"].values() if r["Type"] == stacks.MACHINE)
    assert machine["Properties"]["DefinitionUri"].endswith("saga-orchestrated.asl.json")
    assert "CodeUri" not in result["Globals"]["Function"]
    assert template["Globals"]["Function"]["CodeUri"] == templates.CODE_URI  # the input is left as it was


def test_an_unknown_template_name_says_which_exist():
    with pytest.raises(FileNotFoundError, match="use one of saga-orchestrated, saga-choreographed"):
        templates.load("saga-orchestra")
    assert templates.load("saga-orchestrated.yaml") == templates.load("saga-orchestrated")  # positive control
