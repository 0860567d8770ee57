"""Saving a chapter from JupyterLab writes the same bytes (no browser, no engine: jupytext and the pre-save hook)."""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest

from ocbook.lab import keep_front_matter
from ocbook.paths import REPO

CHAPTERS = sorted((REPO / "chapters").glob("[0-9][0-9]_*.md"))


class Disk:
    """The one method of a contents manager the hook uses."""

    def __init__(self, root: Path):
        self.root = root

    def _get_os_path(self, path: str) -> str:
        return str(self.root / path)


def as_lab_saves_it(text: str) -> str:
    """What jupytext writes after Lab has opened, run and saved the notebook (kernel set from the .venv spec)."""
    notebook = jupytext.reads(text, fmt="md")  # the format comes from the file: MyST for chapters, plain Markdown else
    format_name = notebook.metadata["jupytext"]["text_representation"]["format_name"]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    return jupytext.writes(notebook, fmt=f"md:{format_name}")


def saved(tmp_path: Path, on_disk: str, content: str, name: str = "chapter.md") -> str:
    """The content the hook lets the server write over on_disk."""
    (tmp_path / name).write_text(on_disk)
    model = {"type": "file", "format": "text", "content": content}
    keep_front_matter(model=model, path=name, contents_manager=Disk(tmp_path))
    return model["content"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_a_chapter_saved_from_lab_is_byte_identical(chapter, tmp_path):
    original = chapter.read_text()
    written = as_lab_saves_it(original)
    assert written != original  # positive control: without the hook Lab's save would change the header
    assert saved(tmp_path, original, written) == original


@pytest.mark.parametrize("page", ["intro.md", "README.md"])
def test_markdown_pages_opened_as_notebooks_save_unchanged(page, tmp_path):
    original = (REPO / page).read_text()
    assert saved(tmp_path, original, as_lab_saves_it(original)) == original


def test_a_real_header_change_is_written(tmp_path):
    original = CHAPTERS[0].read_text()
    notebook = jupytext.reads(original, fmt="md:myst")
    notebook.metadata["kernelspec"] = {"name": "other", "display_name": "Other", "language": "python"}
    written = jupytext.writes(notebook, fmt="md:myst")
    assert "name: other" in saved(tmp_path, original, written)


def test_files_without_a_header_and_other_files_are_left_alone(tmp_path):
    assert saved(tmp_path, "# notes\n", "# notes, edited\n") == "# notes, edited\n"
    assert saved(tmp_path, "---\na: 1\n---\nx\n", "---\na: 2\n---\nx\n") == "---\na: 2\n---\nx\n"
    model = {"type": "notebook", "content": {"cells": []}}
    keep_front_matter(model=model, path="x.ipynb", contents_manager=Disk(tmp_path))
    assert model == {"type": "notebook", "content": {"cells": []}}
