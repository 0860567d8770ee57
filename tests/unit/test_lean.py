"""The engine's lean imports: a package whose __init__ waits, and a module imported with annotation placeholders."""

from __future__ import annotations

import sys
import textwrap

import pytest

from ocbook_engine import lean


@pytest.fixture
def packages(tmp_path, monkeypatch):
    """A folder on sys.path to write throwaway packages into; their modules are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write(root, files: dict[str, str]) -> None:
    """Write files (relative path: source) under root."""
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


def test_a_lazy_package_imports_its_submodules_without_running_its_init(packages):
    write(packages, {
        "heavy/__init__.py": "import heavy.costly\nBACKEND = heavy.costly.TABLE\n",
        "heavy/costly.py": "TABLE = list(range(10))\nimport builtins\nbuiltins.costly_ran = True\n",
        "heavy/utils.py": "STATUS = 'ok'\n",
    })
    lean.lazy_package("heavy")
    from heavy.utils import STATUS

    assert STATUS == "ok"
    assert "heavy.costly" not in sys.modules
    assert sys.modules["heavy"].utils.STATUS == "ok"


def test_a_lazy_package_runs_its_init_once_when_a_name_is_asked_of_it(packages):
    write(packages, {
        "heavy2/__init__.py": "import builtins\nbuiltins.heavy2_runs = getattr(builtins, 'heavy2_runs', 0) + 1\n"
                              "BACKEND = 'backend'\n",
        "heavy2/utils.py": "STATUS = 'ok'\n",
    })
    import builtins

    lean.lazy_package("heavy2")
    import heavy2.utils  # noqa: F401

    assert not hasattr(builtins, "heavy2_runs")
    from heavy2 import BACKEND

    assert BACKEND == "backend"
    assert sys.modules["heavy2"].BACKEND == "backend"
    assert builtins.heavy2_runs == 1
    with pytest.raises(AttributeError):
        sys.modules["heavy2"].missing  # noqa: B018 (an unknown name still fails, after the one run)
    assert builtins.heavy2_runs == 1
    del builtins.heavy2_runs


def test_a_package_already_imported_is_left_alone(packages):
    write(packages, {"loaded/__init__.py": "X = 1\n"})
    import loaded

    assert lean.lazy_package("loaded") is None
    assert sys.modules["loaded"] is loaded


@pytest.mark.parametrize(("source", "expected"), [
    ("from __future__ import annotations\nfrom big import A\ndef f(x: A) -> A:\n    y: A = x\n    return y\n", True),
    ("from __future__ import annotations\nfrom big import A\ndef f(x: list[A]) -> dict[str, A]: ...\n", True),
    ("from big import A\ndef f(x: A): ...\n", False),  # annotations evaluated at definition
    ("from __future__ import annotations\nfrom big import A\ndef f(x: A):\n    return A(x)\n", False),
    ("from __future__ import annotations\nfrom big import A\nB = A\n", False),
    ("from __future__ import annotations\nfrom big import A\nisinstance(1, A)\n", False),
])
def test_annotation_only_use_is_told_apart_from_use_at_run_time(source, expected):
    assert lean.used_only_in_annotations(source, ("A",)) is expected


def test_a_module_is_imported_with_placeholders_and_the_heavy_module_stays_importable(packages):
    write(packages, {
        "bigapi/__init__.py": "import builtins\nbuiltins.bigapi_ran = True\nclass Zone(dict): pass\n",
        "user_mod.py": "from __future__ import annotations\nfrom bigapi import Zone\n"
                       "def zones(raw) -> Zone:\n    found: Zone = dict(raw)\n    return found\n",
    })
    import builtins

    assert lean.import_with_placeholders("user_mod", "bigapi", ("Zone",)) is True
    assert not hasattr(builtins, "bigapi_ran")
    assert sys.modules["user_mod"].zones({"a": 1}) == {"a": 1}
    assert "bigapi" not in sys.modules
    import bigapi

    assert builtins.bigapi_ran and bigapi.Zone.__name__ == "Zone"
    del builtins.bigapi_ran


def test_a_module_that_uses_the_names_at_run_time_is_imported_as_is(packages):
    write(packages, {
        "bigapi2/__init__.py": "class Zone(dict): pass\n",
        "user_mod2.py": "from __future__ import annotations\nfrom bigapi2 import Zone\n"
                        "def zones(raw):\n    return Zone(raw)\n",
    })
    assert lean.import_with_placeholders("user_mod2", "bigapi2", ("Zone",)) is False
    assert "user_mod2" not in sys.modules and "bigapi2" not in sys.modules
