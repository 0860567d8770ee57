"""Let nbval run the MyST chapters: read them through jupytext and attach the recorded expected outputs.

nbval only collects .ipynb files, and a MyST notebook carries no outputs. So each
chapters/NN_*.md is read with jupytext; cells tagged ``nbval-check-output``
get the outputs recorded in tests/expected/<chapter>.json (``make expected``),
which nbval compares after applying tests/sanitize.cfg to both sides. Every
other cell is checked for running without error (--nbval-lax).
"""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import jupytext
import nbformat
import pytest
from nbval.plugin import IPyNbFile

ROOT = Path(__file__).parent
EXPECTED = ROOT / "tests" / "expected"
CHECK_TAG = "nbval-check-output"


def cell_key(source: str) -> str:
    """A stable key for a code cell: a hash of its source (editing the cell means recording again)."""
    import hashlib

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


class MystNotebook(IPyNbFile):
    """nbval's notebook collector, fed from a MyST file."""

    def collect(self):
        notebook = load_chapter(Path(self.fspath))
        with mock.patch("nbval.plugin.nbformat.read", lambda *args, **kwargs: notebook):
            yield from super().collect()


def pytest_collect_file(file_path: Path, parent):
    """Collect chapters/NN_*.md as notebooks."""
    if file_path.suffix == ".md" and file_path.parent.name == "chapters" and file_path.stem[:2].isdigit():
        return MystNotebook.from_parent(parent, path=file_path)
    return None
