"""The plugins reach into LocalStack's and moto's internals: check at load that those are the versions they
were written and tested for, and say what to do otherwise (instead of failing somewhere deep inside).

The lock file (code/engine/requirements.lock) decides what is installed; WRITTEN_FOR records what the
patches were checked against. After `make lock` pulls a newer release, the engine refuses to start until
someone re-runs the conformance suite on it and updates WRITTEN_FOR.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

WRITTEN_FOR = {
    "localstack-core": "2026.3.0",
    "moto-ext": "5.1.54",
}


class VersionMismatch(RuntimeError):
    """An installed package is not the version a plugin was written for."""


def require(plugin: str, *packages: str) -> None:
    """Refuse to load `plugin` unless each package is installed at the version in WRITTEN_FOR."""
    for package in packages:
        wanted = WRITTEN_FOR[package]
        try:
            installed = version(package)
        except PackageNotFoundError:
            installed = "nothing"
        if installed != wanted:
            raise VersionMismatch(
                f"the book's {plugin} plugin was written for {package} {wanted}, but {installed} is installed in "
                f"{sys.prefix}. Rebuild the engine venv from the lock file (`rm -rf .engine/venv && make setup`); "
                f"if you changed the lock on purpose, run the conformance suite (`make conformance`) and update "
                f"WRITTEN_FOR in {__file__}.")
