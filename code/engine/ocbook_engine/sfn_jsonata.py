"""Step Functions JSONata evaluated in Python: no Java, no download.

LocalStack 2026.3.0 evaluates ``"QueryLanguage": "JSONata"`` with the Java library jsonata-java
through JPype and installs Java 21 from the internet on first use, so offline every JSONata state
failed after ~9 s with ``States.Runtime`` "Installation of java 21 failed". LocalStack routes every
evaluation through one function pointer, ``localstack.services.stepfunctions.asl.jsonata.jsonata.
_eval_jsonata`` (it composes ``($states:=...;$var:=...;expression)`` first); an ``on_infra_start``
hook sets that pointer to :func:`evaluate` below, so the JVM is never started.

Which implementation (compared on 39 expressions: the examples of JSONata's documentation for paths,
predicates, grouping, higher-order and string/number/date functions, the transform operator, plus
expressions shaped as LocalStack composes them: ``$states.input/context/errorOutput``, ``:=``
declarations, LocalStack's own ``$partition`` definition, ``$eval`` for ``$parse``; measured with
Python 3.13 on the book's 2-core VM under load from other work):

- ``jsonata-python`` 0.7.1 (pure Python, Apache-2.0, a port of jsonata-java, the library LocalStack
  uses, so the same semantics): 39/39, ~2.6 ms per Step Functions-sized evaluation. **Chosen**: pure
  Python installs wherever the engine does, no compiled wheel to match, and it follows the reference
  LocalStack already relies on; a state makes a handful of evaluations, so milliseconds are enough.
- ``jsonata-rs`` 0.1.4 (Rust port of jsonata-java, binary wheels for Linux and macOS arm64 only):
  39/39, ~0.1 ms. Faster, but young (0.1.x), not pure Python, and no wheel for every platform.
- ``jsonata`` 0.2.5 (a wrapper around the JavaScript library in an embedded JS engine): 23/39
  (single-quoted strings, ``$merge``, ``:=`` blocks failed), ~80 ms. Rejected.

Step Functions adds functions to JSONata (Step Functions developer guide, "Transforming data with
JSONata": ``$partition``, ``$range``, ``$hash``, ``$random``, ``$uuid``, ``$parse``). LocalStack
defines ``$partition``, ``$range`` and ``$parse`` in JSONata itself and leaves ``$hash`` and ``$uuid``
as "not supported" placeholders; here those two are real Python functions. Two LocalStack defects
are mended on the way: an expression that throws failed the execution with ``States.Runtime``
instead of AWS's ``States.QueryEvaluationError``, and a string variable (an ``Assign`` from an
error's ``Cause``, say) holding a quote broke every later expression that read it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Any

from localstack.runtime import hooks

from ocbook_engine import guard

LOG = logging.getLogger(__name__)

# $hash(value, algorithm): the algorithms Step Functions accepts, hex digest of the UTF-8 string.
HASH_ALGORITHMS = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def sfn_hash(value: Any, algorithm: str = "SHA-256") -> str:
    """Step Functions' $hash: the hex digest of a string with MD5, SHA-1, SHA-256, SHA-384 or SHA-512."""
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"$hash: algorithm must be one of {', '.join(HASH_ALGORITHMS)}, not {algorithm!r}")
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return hashlib.new(HASH_ALGORITHMS[algorithm], text.encode()).hexdigest()


def sfn_uuid() -> str:
    """Step Functions' $uuid: a version 4 UUID."""
    return str(uuid.uuid4())


def plain(value: Any) -> Any:
    """A JSONata result as plain JSON values; whole floats become ints, as JSON.stringify writes them."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return ""  # a function or other non-JSON value: LocalStack's $type() check then reports it


def evaluate(expression: str) -> Any:
    """Evaluate a composed Step Functions JSONata expression (no input document: all comes from $vars)."""
    import jsonata
    from localstack.services.stepfunctions.asl.jsonata.jsonata import JSONataException

    try:
        compiled = jsonata.Jsonata(expression)
        compiled.register_lambda("hash", sfn_hash)
        compiled.register_lambda("uuid", sfn_uuid)
        return plain(compiled.evaluate(None))
    except Exception as exc:  # every evaluation error becomes LocalStack's JSONata error, as with Java
        raise JSONataException("UNKNOWN", str(exc)) from exc


def encode_declarations(bindings: dict[str, Any]) -> str:
    """``$name:=literal;`` for each binding; strings as JSON literals (LocalStack wrote '"' + value + '"',
    so a variable holding a quote or a backslash, such as an error's Cause, broke every later expression)."""
    from localstack.services.stepfunctions.asl.utils.encoding import to_json_str

    def literal(value) -> str:
        if isinstance(value, str):
            return json.dumps(value, ensure_ascii=False)
        return to_json_str(value, separators=(",", ":"))

    return "".join(f"{name}:={literal(value)};" for name, value in bindings.items())


def report_evaluation_errors() -> None:
    """An expression that throws fails the state with States.QueryEvaluationError (LocalStack: States.Runtime)."""
    from localstack.aws.api.stepfunctions import EvaluationFailedEventDetails, HistoryEventType
    from localstack.services.stepfunctions.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from localstack.services.stepfunctions.asl.component.common.error_name.states_error_name import StatesErrorName
    from localstack.services.stepfunctions.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from localstack.services.stepfunctions.asl.component.common.string.string_expression import StringJSONata
    from localstack.services.stepfunctions.asl.eval.event.event_detail import EventDetails
    from localstack.services.stepfunctions.asl.jsonata.jsonata import JSONataException

    original = StringJSONata._eval_body

    def _eval_body(self, env) -> None:
        try:
            original(self, env)
        except JSONataException as exc:
            name = StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError)
            cause = f"The JSONata expression '{self.expression}' threw an error during evaluation: {exc.details}"
            details = EvaluationFailedEventDetails(error=name.error_name, cause=cause)
            raise FailureEventException(FailureEvent(
                env=env, error_name=name, event_type=HistoryEventType.EvaluationFailed,
                event_details=EventDetails(evaluationFailedEventDetails=details))) from exc

    StringJSONata._eval_body = _eval_body


@hooks.on_infra_start()
def patch_jsonata_evaluation() -> None:
    """Evaluate Step Functions JSONata with jsonata-python instead of a downloaded JVM."""
    if not guard.applies("JSONata", "JSONata states will try to download Java"):
        return
    from localstack.services.stepfunctions.asl.component.intrinsic import jsonata as intrinsics
    from localstack.services.stepfunctions.asl.eval import states, variable_store
    from localstack.services.stepfunctions.asl.jsonata import jsonata as hook

    hook._eval_jsonata = evaluate
    report_evaluation_errors()
    states.encode_jsonata_variable_declarations = encode_declarations
    variable_store.encode_jsonata_variable_declarations = encode_declarations
    for name in ("$hash", "$uuid"):  # LocalStack's placeholders would shadow the real functions
        intrinsics._DECLARATION_BY_VARIABLE_REFERENCE.pop(name, None)
    LOG.info("ocbook-engine: %s applied", __name__)
