"""Refuse a built site whose pages show an error output or whose notebooks stopped early (reads files, runs nothing).

    python -m ocbook.buildcheck [_build/html]

Part of `make book` and `make test`: a chapter that failed must never be published as a green build.
Exit 1 lists each page and what it shows; the next `make book` re-reads every page (`--all`) and
re-executes the chapters that are not in the execution cache, which failed ones never are.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from ocbook.paths import REPO

# What MyST-NB writes for an error output, a traceback shown by nb_execution_show_tb, and kept stderr.
SIGNS = {
    "an error output": re.compile(r'class="[^"]*\boutput (traceback|error)\b'),
    "a traceback": re.compile(r"Traceback \(most recent call last\)"),
    "a failed execution": re.compile(r"CellExecutionError|Executing notebook failed"),
    "a stderr output": re.compile(r'class="[^"]*\boutput stderr\b'),
}


def problems(site: Path) -> list[str]:
    """One line per built chapter page that shows an error, a traceback or stderr."""
    found = []
    for page in sorted(site.glob("chapters/*.html")):
        html = page.read_text(errors="replace")
        found += [f"{page.relative_to(site)}: shows {what}" for what, sign in SIGNS.items() if sign.search(html)]
    return found


def unfinished(executed: Path) -> list[str]:
    """One line per executed notebook that stopped early: an error output, or a code cell that never ran.

    A failing cell that is hidden on the page (an assertion tagged remove-cell) leaves no trace in the HTML,
    but the notebook the build executed shows it.
    """
    found = []
    for notebook in sorted(executed.glob("chapters/*.ipynb")):
        cells = [cell for cell in json.loads(notebook.read_text())["cells"]
                 if cell["cell_type"] == "code" and "".join(cell["source"]).strip()]
        failed = [n for n, c in enumerate(cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
        never = [n for n, c in enumerate(cells) if c.get("execution_count") is None]
        if failed:
            found.append(f"{notebook.relative_to(executed.parent)}: code cell {failed[0]} raised")
        elif never:
            found.append(f"{notebook.relative_to(executed.parent)}: code cell {never[0]} and after never ran")
    return found


def main(argv: list[str]) -> int:
    """Check the site; print what is wrong and where the execution reports are."""
    site = Path(argv[0]) if argv else REPO / "_build" / "html"
    if not site.is_dir():
        print(f"error: no built site at {site}; run `make book`", file=sys.stderr)
        return 1
    found = problems(site) + unfinished(site.parent / "jupyter_execute")
    for line in found:
        print(f"error: {line}", file=sys.stderr)
    if found:
        reports = site / "reports"
        print(f"The site is not publishable. Execution reports: {reports if reports.exists() else '(none)'}; "
              "fix the chapter and run `make book` again (failed chapters are executed again).", file=sys.stderr)
        return 1
    print(f"[book] {len(list(site.glob('chapters/*.html')))} chapter pages and their executed notebooks checked: "
          "no error output, no cell left unexecuted")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
