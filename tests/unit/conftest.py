"""Unit tests run without any LocalStack; the engine's stdlib-only modules come from code/engine (pytest.ini)."""
