"""Refuse a built site whose pages show an error output (cheap: reads the HTML, runs nothing).

    python -m ocbook.buildcheck [_build/html]

Part of `make book` and `make test`: a chapter that failed must never be published as a green build.
Exit 1 lists each page and what it shows; the next `make book` re-reads every page (`--all`) and
re-executes the chapters that are not in the execution cache, which failed ones never are.
"""

from __future__ import annotations

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


def main(argv: list[str]) -> int:
    """Check the site; print what is wrong and where the execution reports are."""
    site = Path(argv[0]) if argv else REPO / "_build" / "html"
    if not site.is_dir():
        print(f"error: no built site at {site}; run `make book`", file=sys.stderr)
        return 1
    found = problems(site)
    for line in found:
        print(f"error: {line}", file=sys.stderr)
    if found:
        reports = site / "reports"
        print(f"The site is not publishable. Execution reports: {reports if reports.exists() else '(none)'}; "
              "fix the chapter and run `make book` again (failed chapters are executed again).", file=sys.stderr)
        return 1
    print(f"[book] {len(list(site.glob('chapters/*.html')))} chapter pages checked: no error output")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
