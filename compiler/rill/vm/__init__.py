"""Layer `vm`: the golden, bit-exact and cycle-exact VM that runs a Program.

Sits above `rill.compile` (it executes a `compile.program.Program`) and `rill.hw`.
"""

from .multi import MultiModelVM
from .vm import VM

__all__ = ["VM", "MultiModelVM"]
