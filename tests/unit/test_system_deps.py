"""The system-tool check that `make book`/`make test` run first: it names what is missing and how to install it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ocbook.paths import REPO

SCRIPT = REPO / ".ci" / "system-deps"


def path_without(tmp_path: Path, *hidden: str) -> str:
    """A PATH holding links to the tools the script uses, minus the hidden ones."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "cut", "sort", "id", "env", "dot", "node", "npm", "chromium", "chromedriver", "apt-get"):
        found = shutil.which(tool)
        if found and tool not in hidden:
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def run(tmp_path: Path, action: str, what: str, hidden: tuple[str, ...]) -> subprocess.CompletedProcess:
    """Run the script with a PATH that lacks `hidden`."""
    env = dict(os.environ, PATH=path_without(tmp_path, *hidden))
    return subprocess.run([shutil.which("bash"), str(SCRIPT), action, what], env=env, capture_output=True,
                          text=True, timeout=30)


@pytest.mark.skipif(not shutil.which("dot"), reason="needs a machine with Graphviz for the positive control")
def test_complete_machine_passes_the_book_check(tmp_path):
    assert run(tmp_path, "check", "book", ()).returncode == 0


def test_missing_tool_is_named_with_its_install_command(tmp_path):
    result = run(tmp_path, "check", "book", ("dot",))
    assert result.returncode == 1
    assert "missing: dot (Debian/Ubuntu package graphviz)" in result.stderr
    assert "apt-get install graphviz" in result.stderr


def test_ensure_without_apt_get_reports_instead_of_installing(tmp_path):
    result = run(tmp_path, "ensure", "book", ("dot", "apt-get"))
    assert result.returncode == 1 and "installing" not in result.stdout
    assert "apt-get install graphviz" in result.stderr


def test_unknown_target_is_a_usage_error(tmp_path):
    assert run(tmp_path, "check", "everything", ()).returncode == 2
