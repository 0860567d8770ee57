"""Two patches to MyST-NB 1.4 about the notebook it writes to _build/jupyter_execute.

That file is what the page's .ipynb download offers and what `make test` validates (`pytest chapters
--from-build`), so it must hold exactly the outputs the page shows.

- keep_cached_outputs: MyST-NB renders a cached notebook from a merged copy but writes the notebook it read
  (without outputs), so a chapter served from the cache would look unexecuted. The patch puts the merged cells
  back into the notebook object MyST-NB writes.
- merge_copies: with ``nb_merge_streams`` MyST-NB merges a cell's stdout pieces by appending them to the first
  piece *in place*, then writes that same notebook: the first piece holds all the text and the later pieces are
  still there, so the download and `make test` (which merges the pieces again) see the text twice. Whether a
  cell's output arrives in one piece or several depends on timing (the kernel flushes stdout while a slow call
  runs), so this showed up as an occasional test failure. The patch makes the merge work on copies.
"""

from __future__ import annotations

import copy
from importlib.metadata import version

from myst_nb.core import render
from myst_nb.core.execute.cache import NotebookClientCache

WRITTEN_FOR = "1.4.0"


def keep_cached_outputs() -> None:
    """Patch NotebookClientCache.start_client so that a cache hit updates the notebook in place."""
    original = NotebookClientCache.start_client
    if getattr(original, "_ocbook_patched", False):
        return

    def start_client(self):
        read = self._notebook
        original(self)
        if self._notebook is not read:  # served from the cache: a merged copy
            read.cells, read.metadata = self._notebook.cells, self._notebook.metadata
            self._notebook = read

    start_client._ocbook_patched = True
    NotebookClientCache.start_client = start_client


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
        raise RuntimeError(f"_ext/mystnb_patches.py patches myst-nb 1.4 but {version('myst-nb')} is "
                           "installed: check that MyST-NB still writes cached notebooks without outputs and still "
                           "merges stream outputs in place, then update or drop the patches")
    keep_cached_outputs()
    merge_copies()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
