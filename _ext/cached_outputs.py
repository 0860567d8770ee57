"""Write the notebook with its outputs to _build/jupyter_execute also when it came from the execution cache.

MyST-NB 1.4 renders a cached notebook from a merged copy but writes the notebook it read (without outputs) to
_build/jupyter_execute. That file is what the page's .ipynb download offers and what `make test` validates
(`pytest chapters --from-build`), so a cached chapter would look unexecuted. This puts the merged cells back
into the notebook object MyST-NB writes.
"""

from __future__ import annotations

from importlib.metadata import version

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


def setup(app):
    if version("myst-nb") != WRITTEN_FOR:
        raise RuntimeError(f"_ext/cached_outputs.py patches myst-nb {WRITTEN_FOR} but {version('myst-nb')} is "
                           "installed: check that MyST-NB still writes cached notebooks without outputs, then "
                           "update or drop the patch")
    keep_cached_outputs()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
