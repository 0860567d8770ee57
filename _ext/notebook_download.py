"""Offer each executed chapter as .ipynb in the page's download menu.

sphinx-book-theme does this only when a launch service (Binder, Colab...) is
configured; the book has none, so this extension copies the notebook that
MyST-NB executed into _sources and tells the theme about it.
"""

from __future__ import annotations

from pathlib import Path
from shutil import copy2


def offer_notebook(app, pagename, templatename, context, doctree) -> None:
    """Copy _build/jupyter_execute/<page>.ipynb next to the page's source and link it."""
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.exists() or not context.get("sourcename", "").endswith((".md", ".md.txt")):
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    # before the theme builds its header buttons (priority 501)
    app.connect("html-page-context", offer_notebook, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
