"""Lambda archives from real handler modules under code/functions, and layers from installed packages."""

from __future__ import annotations

import importlib.metadata
import io
import zipfile
from pathlib import Path

from ocbook.paths import FUNCTIONS

SHARED = "fnlib"  # helpers every function gets (event publishing, trace records)
SKIP = {"__pycache__", ".pytest_cache"}


def add_tree(archive: zipfile.ZipFile, folder: Path, prefix: str) -> None:
    """Add a folder's files to the archive under prefix (bytecode caches left out)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not SKIP.intersection(path.parts) and path.suffix != ".pyc":
            info = zipfile.ZipInfo(f"{prefix}/{path.relative_to(folder).as_posix()}", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)


def function_zip(*packages: str) -> bytes:
    """A deployment package holding the named packages of code/functions plus the shared fnlib."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in dict.fromkeys([*packages, SHARED]):
            folder = FUNCTIONS / name
            if not (folder / "__init__.py").exists():
                raise FileNotFoundError(f"no function package {name!r} under {FUNCTIONS}")
            add_tree(archive, folder, name)
    return buffer.getvalue()


def distribution_files(distribution: str) -> list[Path]:
    """The installed files of a distribution (its code, not its metadata or scripts)."""
    dist = importlib.metadata.distribution(distribution)
    files = []
    for entry in dist.files or []:
        path = Path(dist.locate_file(entry))
        if path.suffix != ".pyc" and ".dist-info" not in str(entry) and not str(entry).startswith(".."):
            files.append((entry, path))
    return files


def layer_zip(*distributions: str) -> bytes:
    """A layer with installed distributions under python/, the way Lambda expects Python layers."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for distribution in distributions:
            for entry, path in distribution_files(distribution):
                if path.is_file():
                    info = zipfile.ZipInfo(f"python/{entry}", date_time=(2020, 1, 1, 0, 0, 0))
                    info.external_attr = 0o644 << 16
                    archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
