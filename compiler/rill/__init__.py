"""rill: compile PyTorch models to a bit-exact, cycle-exact streaming inference accelerator.

The API mirrors the commercial flow (`vollo_torch` / `vollo_compiler`), so user code ports by
renaming imports: `rill.fx.prepare_shape`, `rill.fx.nnir.to_nnir`, `rill.Config`, `rill.Program`.
"""

from .compile.link import ProgramBuilder
from .compile.program import Program
from .errors import (
    AllocationError,
    ConfigError,
    InvalidProgramError,
    LoadError,
    ModelError,
    NNIRError,
    ProgramError,
    RillError,
    SaveError,
    UnsupportedError,
    VMInputError,
)
from .hw.config import Config
from .ir import NNIR
from .vm import VM


def __getattr__(name: str):
    # the torch frontend and the cosim are imported on first use: the simulator (cosim) and the
    # CLI import rill without paying torch's start-up, and `import rill` needs no Verilator
    if name in ("fx", "cosim", "nn", "rt"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'rill' has no attribute {name!r}")


__all__ = [
    "fx", "cosim", "nn", "rt", "Config", "Program", "ProgramBuilder", "VM", "NNIR", "RillError",
    "AllocationError",
    "ConfigError", "InvalidProgramError", "LoadError", "ModelError", "NNIRError", "ProgramError",
    "SaveError", "UnsupportedError", "VMInputError",
]
