"""Make `rill` submodules importable inside the simulator without running rill/__init__.py.

The package's __init__ pulls in the compiler front end (torch), which costs seconds at every
simulator start; the unit benches need only numerics/isa/config (numpy). Importing this module
registers a bare `rill` package object (same search path) unless rill is already loaded.
"""

from __future__ import annotations

import importlib.util
import sys
import types

if "rill" not in sys.modules:
    _spec = importlib.util.find_spec("rill")
    if _spec is not None and _spec.submodule_search_locations:
        _pkg = types.ModuleType("rill")
        _pkg.__path__ = list(_spec.submodule_search_locations)
        _pkg.__file__ = _spec.origin
        sys.modules["rill"] = _pkg
