"""The built-site check that keeps a failed chapter from being published as a green build."""

from __future__ import annotations

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
