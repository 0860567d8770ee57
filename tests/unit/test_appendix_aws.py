"""The "Running it on AWS" page: every command on it is checked against the templates it names.

It is never run (no account); instead each template the page builds passes cfn-lint with the SAM transform,
each stack output a command reads exists in that stack's template, each placeholder was read before it is used,
and each trip input or event is one the saga accepts.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from ocbook import templates
from ocbook.paths import REPO
from ocbook.styles import SERVICES

PAGE = REPO / "chapters" / "appendix_aws.md"


def commands(text: str) -> list[list[str]]:
    """The commands of the page's bash blocks, split as the shell would."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.strip()]


def option(words: list[str], name: str) -> str:
    """The value after an option."""
    return words[words.index(name) + 1]


def trip_problems(trip: dict) -> list[str]:
    """What is wrong with a trip request."""
    found = [] if isinstance(trip.get("trip_id"), str) and isinstance(trip.get("amount"), int) else \
        [f"a trip needs a trip_id and an amount: {trip}"]
    found += [f"unknown service {s!r} in fail" for s in trip.get("fail", {}) if s not in SERVICES]
    return found


def invoke_problems(words: list[str], line: str) -> list[str]:
    """What is wrong with starting a durable trip: qualified, named after its trip, a JSON payload the CLI sends."""
    trip = json.loads(option(words, "--payload"))
    found = trip_problems(trip)
    if "--qualifier" not in words and ":" not in option(words, "--function-name"):
        found.append(f"a durable function is invoked through a version or an alias, not by its bare name: {line}")
    if "--durable-execution-name" not in words or option(words, "--durable-execution-name") != trip.get("trip_id"):
        found.append("the durable execution is named after its trip (a duplicate start is then absorbed)")
    if "--cli-binary-format" not in words or option(words, "--cli-binary-format") != "raw-in-base64-out":
        found.append(f"AWS CLI v2 reads --payload as base64 without --cli-binary-format raw-in-base64-out: {line}")
    return found


def problems(text: str) -> tuple[list[str], list[str]]:
    """What on the page disagrees with the templates; and the templates it builds (for cfn-lint)."""
    from booking import contract

    found, built, stacks, outputs = [], [], {}, set()
    pending = None  # the template built and not yet deployed
    for words in commands(text):
        line = " ".join(words)
        for placeholder in re.findall(r"<(\w+)>", line):
            if placeholder not in outputs:
                found.append(f"{placeholder} is used before a command reads it: {line}")
        if words[:2] == ["sam", "build"]:
            name = option(words, "--template-file")
            if not (REPO / name).is_file() or Path(name).name not in templates.TEMPLATES:
                found.append(f"no generated template {name}")
            pending = name
            built.append(name)
        elif words[:2] == ["sam", "deploy"]:
            if pending is None:
                found.append(f"deploy without a build before it: {line}")
            stacks[option(words, "--stack-name")], pending = pending, None
        elif words[:2] == ["sam", "delete"]:
            stacks.pop(option(words, "--stack-name"), None) or found.append(f"deletes a stack never deployed: {line}")
        elif words[1:3] == ["cloudformation", "describe-stacks"]:
            stack = option(words, "--stack-name")
            key = re.search(r"OutputKey=='(\w+)'", option(words, "--query")).group(1)
            if stack not in stacks:
                found.append(f"reads a stack never deployed: {line}")
            elif key not in templates.load(stacks[stack])["Outputs"]:
                found.append(f"{stacks[stack]} has no output {key}")
            outputs.add(key)
        elif words[1:3] == ["stepfunctions", "start-execution"]:
            trip = json.loads(option(words, "--input"))
            found += trip_problems(trip)
            if option(words, "--name") != trip.get("trip_id"):
                found.append("the execution is named after its trip (a duplicate start is then absorbed)")
        elif words[1:3] == ["events", "put-events"]:
            for entry in json.loads(option(words, "--entries")):
                reacted = {t for reacts in contract.reactions(SERVICES).values() for t in reacts}
                if entry["Source"] != contract.SOURCE or entry["DetailType"] not in reacted:
                    found.append(f"no rule reacts to {entry['Source']} {entry['DetailType']}")
                found += trip_problems(json.loads(entry["Detail"]))
        elif words[1:3] == ["lambda", "publish-version"]:
            outputs.add("Version")  # --query Version: what the invoke below qualifies the function with
        elif words[1:3] == ["lambda", "invoke"]:
            found += invoke_problems(words, line)
        elif words[1:3] == ["dynamodb", "get-item"]:
            if list(json.loads(option(words, "--key"))) != ["pk"]:
                found.append(f"the saga's tables are keyed by pk: {line}")
        else:
            found.append(f"a command this test does not check: {line}")
    found += [f"stack {name} is never deleted" for name in stacks]
    return found, sorted(set(built))


def test_every_command_on_the_page_agrees_with_the_templates():
    found, built = problems(PAGE.read_text())
    assert found == []
    assert built == ["templates/saga-choreographed.yaml", "templates/saga-durable.yaml",
                     "templates/saga-orchestrated.yaml"]


@pytest.mark.parametrize("change, problem", [
    ("OutputKey=='TripsTable'", "has no output TripsTabl"),
    ('"fail": {"car": "permanent"}', "unknown service 'boat'"),
    ("sam delete --stack-name travel-saga-choreographed", "stack travel-saga-choreographed is never deleted"),
    ("--qualifier <Version> ", "not by its bare name"),
    ("--durable-execution-name trip-3", "named after its trip"),
])
def test_the_check_finds_a_command_that_disagrees(change, problem):
    broken = {"OutputKey=='TripsTable'": "OutputKey=='TripsTabl'", '"fail": {"car": "permanent"}':
              '"fail": {"boat": "permanent"}', "sam delete --stack-name travel-saga-choreographed": "",
              "--qualifier <Version> ": "", "--durable-execution-name trip-3": "--durable-execution-name x"}[change]
    text = PAGE.read_text()
    assert change in text  # positive control: the page has what we break
    found, _ = problems(text.replace(change, broken))
    assert any(problem in p for p in found), found


def test_the_templates_it_builds_pass_cfn_lint_with_the_sam_transform():
    venv = Path(os.environ.get("OCBOOK_ENGINE_VENV") or REPO / ".engine" / "venv")
    lint = venv / "bin" / "cfn-lint"
    if not lint.is_file():
        pytest.fail(f"cfn-lint not found at {lint}: run `make setup` (it comes with the engine's venv)")
    _, built = problems(PAGE.read_text())
    result = subprocess.run([str(lint), *built], cwd=REPO, capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, "")
    assert all(templates.load(REPO / name)["Transform"] == "AWS::Serverless-2016-10-31" for name in built)


def test_the_page_is_in_the_table_of_contents():
    assert "chapters/appendix_aws" in (REPO / "_toc.yml").read_text()
