"""The built-site check that keeps a failed chapter from being published as a green build."""

from __future__ import annotations

import json

from ocbook import buildcheck

CLEAN = '<div class="cell_output docutils container"><div class="output text_plain highlight-myst-ansi">ok</div></div>'
ERROR = ('<div class="cell_output docutils container"><div class="output traceback highlight-ipythontb notranslate">'
         "Traceback (most recent call last)</div></div>")


def site(tmp_path, **pages):
    """A site folder with the given chapter pages."""
    (tmp_path / "chapters").mkdir()
    for name, html in pages.items():
        (tmp_path / "chapters" / f"{name}.html").write_text(html)
    return tmp_path


def test_clean_pages_pass(tmp_path):
    assert buildcheck.problems(site(tmp_path, c01=CLEAN, c02=CLEAN)) == []
    assert buildcheck.main([str(tmp_path)]) == 0


def test_a_page_with_an_error_output_fails_and_is_named(tmp_path, capsys):
    found = buildcheck.problems(site(tmp_path, c01=CLEAN, c02=ERROR))
    assert found == ["chapters/c02.html: shows an error output", "chapters/c02.html: shows a traceback"]
    assert buildcheck.main([str(tmp_path)]) == 1
    assert "c02.html" in capsys.readouterr().err


def test_no_site_is_an_error(tmp_path):
    assert buildcheck.main([str(tmp_path / "missing")]) == 1


def executed(tmp_path, *cells):
    """A jupyter_execute folder with one chapter notebook of the given (execution_count, outputs) code cells."""
    folder = tmp_path / "jupyter_execute" / "chapters"
    folder.mkdir(parents=True)
    notebook = {"cells": [{"cell_type": "code", "source": ["x = 1"], "execution_count": count, "outputs": outputs}
                          for count, outputs in cells] + [{"cell_type": "markdown", "source": ["text"]}]}
    (folder / "c01.ipynb").write_text(json.dumps(notebook))
    return tmp_path / "jupyter_execute"


def test_a_fully_executed_notebook_passes(tmp_path):
    assert buildcheck.unfinished(executed(tmp_path, (1, []), (2, [{"output_type": "stream", "text": "ok"}]))) == []


def test_a_hidden_failing_cell_is_found_in_the_executed_notebook(tmp_path):
    error = {"output_type": "error", "ename": "AssertionError", "evalue": "", "traceback": []}
    found = buildcheck.unfinished(executed(tmp_path, (1, []), (2, [error]), (None, [])))
    assert found == ["jupyter_execute/chapters/c01.ipynb: code cell 1 raised"]


def test_a_notebook_that_stopped_early_is_found(tmp_path):
    found = buildcheck.unfinished(executed(tmp_path, (1, []), (None, []), (None, [])))
    assert found == ["jupyter_execute/chapters/c01.ipynb: code cell 1 and after never ran"]
