"""The localstack-core version our patches of LocalStack's internals were written for, and the check."""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

from ocbook_engine.versions import WRITTEN_FOR as VERSIONS

LOG = logging.getLogger(__name__)

WRITTEN_FOR = VERSIONS["localstack-core"]


def installed_localstack() -> str:
    """The installed localstack-core version, or 'none'."""
    try:
        return version("localstack-core")
    except PackageNotFoundError:
        return "none"


def applies(patch: str, without_it: str) -> bool:
    """True on the version the patches were written for; otherwise log one line saying what to do."""
    found = installed_localstack()
    if found == WRITTEN_FOR:
        return True
    LOG.error("ocbook-engine: the %s patch is written for localstack-core %s, found %s; not applied (%s). "
              "Reinstall with `rm -rf .engine && make setup`.", patch, WRITTEN_FOR, found, without_it)
    return False
