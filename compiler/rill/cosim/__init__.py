"""Co-simulation of the rill RTL (Verilator + cocotb) against the bit-exact VM.

`rill.cosim.run` runs programs on the RTL; `rill.cosim.image` is the typed run image and result
shared with the bench; `rill.cosim.verilator` holds the build/run infrastructure;
`rill.cosim.lint` lints rtl/. `python -m rill.cosim RUN_DIR` runs the bench on a saved image.
"""

from .image import Mismatch, RunImage, RunOptions, RunResult
from .run import CosimMismatchError, CosimResult, run

__all__ = ["run", "CosimResult", "CosimMismatchError", "RunImage", "RunOptions", "RunResult",
           "Mismatch"]
