"""Lambda archives and layers."""

import io
import zipfile

import pytest

from ocbook import package


def names(archive: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(archive)).namelist()


def test_function_zip_holds_the_package_and_fnlib_without_bytecode():
    files = names(package.function_zip("orderflow"))
    assert "orderflow/logic.py" in files and "fnlib/bus.py" in files
    assert not [f for f in files if f.endswith(".pyc") or "__pycache__" in f]


def test_function_zip_is_reproducible():
    assert package.function_zip("orderflow") == package.function_zip("orderflow")


def test_unknown_package_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="no function package"):
        package.function_zip("nope")


def test_layer_zip_puts_code_under_python():
    files = names(package.layer_zip("jmespath"))
    assert "python/jmespath/__init__.py" in files and all(f.startswith("python/") for f in files)
