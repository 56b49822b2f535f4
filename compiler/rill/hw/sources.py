"""Where the RTL is: `rill/hw/rtl/`, package data of the installed package.

In a source checkout `compiler/rill/hw/rtl` is a symlink to the repository's `rtl/` (the only
copy of each file); building a wheel copies the files into the package. Paths are resolved, so
in a checkout `RTL_DIR` is the repository's `rtl/` and `python -m rill gen-pkg` writes there.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def package_dir(package: str, name: str) -> Path:
    """The directory `name` shipped inside `package`, as a resolved filesystem path."""
    return Path(str(resources.files(package).joinpath(name))).resolve()


RTL_DIR = package_dir(__package__, "rtl")


def source_checkout() -> Path | None:
    """The repository root when rill runs from a source checkout (editable install), else None."""
    root = RTL_DIR.parent
    if (root / "pyproject.toml").is_file() and (root / "compiler" / "rill").is_dir():
        return root
    return None
