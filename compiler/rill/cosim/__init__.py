"""Co-simulation of the rill RTL (Verilator + cocotb) against the bit-exact VM.

`rill.cosim.verilator` holds the build/run infrastructure; `rill.cosim.lint` lints rtl/.
"""

from .run import CosimMismatchError, CosimResult, run

__all__ = ["run", "CosimResult", "CosimMismatchError"]
