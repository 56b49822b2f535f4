"""rill: compile PyTorch models to a bit-exact, cycle-exact streaming inference accelerator.

The API mirrors the commercial flow (`vollo_torch` / `vollo_compiler`), so user code ports by
renaming imports: `rill.fx.prepare_shape`, `rill.fx.nnir.to_nnir`, `rill.Config`, `rill.Program`.
"""

from . import fx
from .config import Config
from .errors import (
    AllocationError,
    ConfigError,
    LoadError,
    NNIRError,
    ProgramError,
    RillError,
    SaveError,
    UnsupportedError,
    VMInputError,
)
from .nnir import NNIR
from .program import Program
from .vm import VM

__all__ = [
    "fx", "Config", "Program", "VM", "NNIR", "RillError", "AllocationError", "ConfigError",
    "LoadError", "NNIRError", "ProgramError", "SaveError", "UnsupportedError", "VMInputError",
]
