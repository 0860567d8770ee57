"""Record the outputs of chapter cells tagged nbval-check-output into tests/expected/<chapter>.json.

Run with `make expected`: it builds the book (executing what changed), then records from the notebooks
the build executed, which are the ones `make test` validates. Review the diff before committing.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]


def load_collector():
    """The root conftest.py (nbval's chapter collector), loaded by path: it is not a package."""
    spec = importlib.util.spec_from_file_location("chapter_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COLLECTOR = load_collector()
CHECK_TAG, EXECUTED, EXPECTED = COLLECTOR.CHECK_TAG, COLLECTOR.EXECUTED, COLLECTOR.EXPECTED
cell_key, code_sources = COLLECTOR.cell_key, COLLECTOR.code_sources


def record(path: Path) -> int:
    """Store one chapter's checked cells' outputs, as the site build executed them; returns how many."""
    chapter = jupytext.read(path)
    executed = nbformat.read(EXECUTED / f"{path.stem}.ipynb", as_version=4)
    if code_sources(executed) != code_sources(chapter):
        raise SystemExit(f"{path.name} changed after the site build executed it; run `make book` first")
    recorded = {}
    for cell in executed.cells:
        if cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", []):
            recorded[cell_key(cell.source)] = [strip(output) for output in cell.outputs]
    target = EXPECTED / f"{path.stem}.json"
    if recorded:
        target.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    elif target.exists():
        target.unlink()
    return len(recorded)


def strip(output: dict) -> dict:
    """An output without the parts nbval does not compare."""
    output = dict(output)
    output.pop("execution_count", None)
    if output.get("output_type") == "stream":
        output.pop("metadata", None)
    return output


def main() -> None:
    """Record every chapter (or those named on the command line)."""
    EXPECTED.mkdir(parents=True, exist_ok=True)
    chapters = [Path(a) for a in sys.argv[1:]] or sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md"))
    for chapter in chapters:
        print(f"{chapter.name}: {record(chapter)} cell(s) recorded")


if __name__ == "__main__":
    main()
