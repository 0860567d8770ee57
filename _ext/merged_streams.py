"""Merge a cell's stream outputs for the page without editing the notebook that is written and offered.

With ``nb_merge_streams`` MyST-NB 1.4 merges a cell's stdout pieces by appending them to the first piece *in
place*, then writes that same notebook to _build/jupyter_execute: the first piece holds all the text and the
later pieces are still there, so the .ipynb download and `make test` (which merges the pieces again) see the
text twice. Whether a cell's output arrives in one piece or several depends on timing (the kernel flushes
stdout while a slow call runs), so this showed up as an occasional test failure. This extension makes the merge
work on copies.
"""

from __future__ import annotations

import copy
from importlib.metadata import version

from myst_nb.core import render

WRITTEN_FOR = "1.4.0"


def merge_copies() -> None:
    """Patch the merge MyST-NB's renderer calls so that it leaves the notebook's own outputs untouched."""
    original = render.coalesce_streams
    if getattr(original, "_ocbook_patched", False):
        return

    def coalesce_streams(outputs):
        return original([copy.deepcopy(output) for output in outputs])

    coalesce_streams._ocbook_patched = True
    render.coalesce_streams = coalesce_streams


def setup(app):
    if version("myst-nb") != WRITTEN_FOR:
        raise RuntimeError(f"_ext/merged_streams.py patches myst-nb {WRITTEN_FOR} but {version('myst-nb')} is "
                           "installed: check whether MyST-NB still merges stream outputs in place, then "
                           "update or drop the patch")
    merge_copies()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
