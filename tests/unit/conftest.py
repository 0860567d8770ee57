"""Unit tests run without any LocalStack; the engine's stdlib-only modules are importable from code/engine."""

import sys

from ocbook.paths import CODE

sys.path.insert(0, str(CODE / "engine"))
