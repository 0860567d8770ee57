"""Keep the engine process from loading EC2 code and data that the book never uses (about 130 MB).

Two of LocalStack's modules import EC2 for a trifle, and both load in every chapter:

- Step Functions' Batch integration imports an enum from `moto.batch.utils`. Importing any module of the
  package `moto.batch` first runs its `__init__`, which loads moto's Batch and EC2 models, and EC2 parses its
  instance-type tables for every region at import: about 90 MB of the engine process, 57 MB of it parsed JSON.
  The package is made lazy instead: its submodules import as usual, and its `__init__` runs the first time
  anything asks the package itself for a name (moto's Batch backend, which the book does not serve).
- CloudFormation's v2 preprocessor imports two type names from `localstack.aws.api.ec2` (about 40 MB of typed
  dicts) and uses them only in annotations, which `from __future__ import annotations` never evaluates. It is
  imported while those two names resolve to placeholders; the real module is still there for any later import.

Each step checks what it relies on (the source of the importing module) and otherwise leaves the import as is,
with a log line; nothing here changes what a request does.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import logging
import sys
import threading
import types

LOG = logging.getLogger(__name__)

LAZY_PACKAGES = ("moto.batch",)
ANNOTATION_ONLY = {  # importing module: (heavy module, the names it imports from it)
    "localstack.services.cloudformation.engine.v2.change_set_model_preproc": (
        "localstack.aws.api.ec2", ("AvailabilityZoneList", "DescribeAvailabilityZonesResult")),
}


def lazy_package(name: str) -> types.ModuleType | None:
    """Put package `name` in sys.modules without running its __init__ until a name is asked of it; None if loaded."""
    if name in sys.modules:
        return None
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(f"{name} is not an importable package")
    module = importlib.util.module_from_spec(spec)
    lock = threading.Lock()

    def __getattr__(attribute: str):  # noqa: N807 (a module's __getattr__, PEP 562)
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        with lock:
            if module.__dict__.pop("__getattr__", None) is not None:
                spec.loader.exec_module(module)
        return getattr(module, attribute)

    module.__getattr__ = __getattr__
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), child, module)
    return module


def used_only_in_annotations(source: str, names: tuple[str, ...]) -> bool:
    """True if `source` postpones annotations and uses each of `names` only inside annotations."""
    tree = ast.parse(source)
    postponed = any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
                    and any(alias.name == "annotations" for alias in node.names) for node in tree.body)
    annotations = [node.annotation for node in ast.walk(tree) if isinstance(node, (ast.AnnAssign, ast.arg))
                   and node.annotation is not None]
    annotations += [node.returns for node in ast.walk(tree)
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None]
    in_annotations = [id(name) for annotation in annotations for name in ast.walk(annotation)
                      if isinstance(name, ast.Name) and name.id in names]
    everywhere = [id(name) for name in ast.walk(tree) if isinstance(name, ast.Name) and name.id in names]
    return postponed and sorted(in_annotations) == sorted(everywhere)


def import_with_placeholders(module: str, heavy: str, names: tuple[str, ...]) -> bool:
    """Import `module` while `heavy` provides only placeholders for `names`; False (nothing done) if unsafe."""
    if module in sys.modules or heavy in sys.modules:
        return False
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not used_only_in_annotations(spec.loader.get_source(module), names):
        LOG.info("ocbook-engine: %s uses %s beyond annotations; importing it as is", module, heavy)
        return False
    stand_in = types.ModuleType(heavy, f"placeholders for {', '.join(names)} while {module} is imported")
    for name in names:
        setattr(stand_in, name, f"{heavy}.{name} (not loaded: annotation only)")
    sys.modules[heavy] = stand_in
    try:
        importlib.import_module(module)
    finally:
        if sys.modules.get(heavy) is stand_in:
            del sys.modules[heavy]
        parent = sys.modules.get(heavy.rpartition(".")[0])
        if parent is not None and getattr(parent, heavy.rpartition(".")[2], None) is stand_in:
            delattr(parent, heavy.rpartition(".")[2])
    return True


def install() -> None:
    """Apply both steps (before anything imports Step Functions or CloudFormation)."""
    for package in LAZY_PACKAGES:
        lazy_package(package)
    for module, (heavy, names) in ANNOTATION_ONLY.items():
        import_with_placeholders(module, heavy, names)
