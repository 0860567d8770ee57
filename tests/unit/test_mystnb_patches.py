"""The site's stream merge must not edit the notebook that is written to _build/jupyter_execute."""

import sys
from pathlib import Path

import nbformat
from myst_nb.core import render

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_ext"))
import mystnb_patches  # noqa: E402


def stream(text):
    """One stdout piece as the kernel sends it."""
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_merging_for_the_page_leaves_the_notebook_outputs_as_they_were():
    mystnb_patches.merge_copies()
    outputs = [stream("table\n"), stream("cause: over the limit\n")]
    merged = render.coalesce_streams(outputs)
    assert [o.text for o in merged] == ["table\ncause: over the limit\n"]
    assert [o.text for o in outputs] == ["table\n", "cause: over the limit\n"]


def test_patching_twice_wraps_once():
    mystnb_patches.merge_copies()
    patched = render.coalesce_streams
    mystnb_patches.merge_copies()
    assert render.coalesce_streams is patched
