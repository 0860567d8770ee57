"""Let nbval validate the MyST chapters, either by running them or by reading what the site build executed.

nbval only collects .ipynb files, and a MyST notebook carries no outputs. So each
chapters/NN_*.md is read with jupytext; cells tagged ``nbval-check-output``
get the outputs recorded in tests/expected/<chapter>.json (``make expected``),
which nbval compares after applying tests/sanitize.cfg to both sides. Every
other cell is checked for running without error (--nbval-lax).

Two modes:

- default (``make chapter N=01``): nbval runs the chapter in a kernel, as usual;
- ``--from-build`` (``make test``): nbval does not execute anything. It reads the
  notebook that the site build executed (``_build/jupyter_execute/chapters/``)
  and validates it cell by cell with the same rules, so that each chapter is
  executed once per test run, by the build, and what is validated is exactly
  what the site shows.

In both modes a chapter stops at its first failing cell: the cells after it are
reported as skipped ("not run: cell N failed"), not as a cascade of errors.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from unittest import mock

import jupytext
import nbformat
import pytest
from nbval.plugin import IPyNbCell, IPyNbFile, coalesce_streams

ROOT = Path(__file__).parent
EXPECTED = ROOT / "tests" / "expected"
EXECUTED = ROOT / "_build" / "jupyter_execute" / "chapters"
CHECK_TAG = "nbval-check-output"


def pytest_addoption(parser):
    """--from-build: validate the notebooks the site build executed instead of running them again."""
    parser.addoption("--from-build", action="store_true",
                     help="validate _build/jupyter_execute/chapters/*.ipynb (run `make book` first); execute nothing")


def cell_key(source: str) -> str:
    """A stable key for a code cell: a hash of its source (editing the cell means recording again)."""
    return hashlib.sha1(source.strip().encode()).hexdigest()[:12]


def load_chapter(path: Path) -> nbformat.NotebookNode:
    """The chapter as a notebook, with expected outputs attached to the cells that are compared."""
    notebook = jupytext.read(path)
    expected_file = EXPECTED / f"{path.stem}.json"
    expected = json.loads(expected_file.read_text()) if expected_file.exists() else {}
    for cell in notebook.cells:
        if cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", []):
            key = cell_key(cell.source)
            if key not in expected:
                raise pytest.UsageError(
                    f"{path.name}: no recorded output for a cell tagged {CHECK_TAG} (key {key}); "
                    "run `make expected` and review the diff of tests/expected/")
            cell.outputs = [nbformat.from_dict(output) for output in expected[key]]
            cell.execution_count = 1  # nbval treats a cell with outputs but no count as never run
    return notebook


def code_sources(notebook: nbformat.NotebookNode) -> list[str]:
    """The sources of a notebook's code cells, in order."""
    return [cell.source.strip() for cell in notebook.cells if cell.cell_type == "code"]


def load_executed(path: Path, chapter: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook the site build executed for this chapter; refuses one that is missing or stale."""
    executed_file = EXECUTED / f"{path.stem}.ipynb"
    if not executed_file.exists():
        raise pytest.UsageError(f"{path.name}: the site build left no executed notebook at "
                                f"{executed_file.relative_to(ROOT)}; run `make book` (or `make site`) first")
    executed = nbformat.read(executed_file, as_version=4)
    if code_sources(executed) != code_sources(chapter):
        raise pytest.UsageError(f"{path.name} changed after the site build executed it; run `make book` again")
    return executed


class StopAtFirstFailure:
    """A chapter's cells share one kernel: once a cell fails, the ones after it are skipped, not run."""

    def setup(self):
        if getattr(self.parent, "failed_cell", None) is not None:
            pytest.skip(f"not run: cell {self.parent.failed_cell} failed")
        super().setup()

    def runtest(self):
        try:
            super().runtest()
        except pytest.skip.Exception:  # a cell tagged to be skipped has not failed
            raise
        except BaseException:
            self.parent.failed_cell = self.cell_num
            raise


class RunCell(StopAtFirstFailure, IPyNbCell):
    """nbval's cell, run in the chapter's kernel."""


class FromBuild:
    """Instead of running the cell: read the outputs the site build recorded for it."""

    def runtest(self):
        """No error output; recorded outputs match (after sanitising) where the cell is tagged for it."""
        if self.options["skip"]:
            pytest.skip()
        outputs = self.parent.executed_cells[self.cell_num].outputs
        errors = [out for out in outputs if out.get("output_type") == "error"]
        if errors:
            self.raise_cell_error("Cell execution caused an exception", "\n" + "\n".join(errors[0]["traceback"]))
        if self.parent.executed_cells[self.cell_num].get("execution_count") is None and not outputs:
            self.raise_cell_error("Cell was not executed by the site build (an earlier cell failed?)")
        outs = coalesce_streams(list(outputs))
        if self.options["check"] and self.cell.execution_count is not None:
            self.test_outputs = outs
            if not self.compare_outputs(outs, coalesce_streams(self.cell.outputs)):
                self.raise_cell_error("Cell outputs differ", "\n".join(self.comparison_traceback))


class BuiltCell(StopAtFirstFailure, FromBuild, IPyNbCell):
    """nbval's cell, validated from the outputs the site build recorded instead of a kernel."""


class MystNotebook(IPyNbFile):
    """nbval's notebook collector, fed from a MyST file (and, with --from-build, the build's outputs)."""

    failed_cell: int | None = None

    @property
    def from_build(self) -> bool:
        """True when validating the build's executed notebook."""
        return self.config.getoption("from_build")

    def collect(self):
        chapter = load_chapter(Path(self.fspath))
        if self.from_build:
            executed = load_executed(Path(self.fspath), chapter)
            self.executed_cells = [cell for cell in executed.cells if cell.cell_type == "code"]
        cell_class = BuiltCell if self.from_build else RunCell
        with mock.patch("nbval.plugin.nbformat.read", lambda *args, **kwargs: chapter), \
                mock.patch("nbval.plugin.IPyNbCell.from_parent", cell_class.from_parent):
            yield from super().collect()

    def setup(self):
        """Start a kernel only when the chapter is run here; sanitising applies in both modes."""
        if self.from_build:
            self.setup_sanitize_files()
        else:
            super().setup()


def pytest_collect_file(file_path: Path, parent):
    """Collect chapters/NN_*.md as notebooks."""
    if file_path.suffix == ".md" and file_path.parent.name == "chapters" and file_path.stem[:2].isdigit():
        return MystNotebook.from_parent(parent, path=file_path)
    return None
