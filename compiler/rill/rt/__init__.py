"""The runtime: one interface over the VM and a persistent RTL simulation.

    import rill.rt
    with rill.rt.open(program, backend="rtl") as rt:     # or backend="vm" (the default)
        for x_t in xs:
            y_t = rt.run(x_t)            # like program.to_vm().run(x_t); state carried
        rt.cycles, rt.last_cycles        # per inference: measured on the RTL, = the VM's
        rt.reset()                       # initial streaming state (the RTL: clear_i)
        ys = rt.run_timesteps(seq)       # a whole sequence, like VM.run_timesteps

A harness written against `backend="vm"` runs unchanged on `backend="rtl"`: same methods,
same float32 results, the same typed errors for bad input (raised before anything reaches the
simulation). The RTL backend builds the config once (cached), starts one simulation of the
bench `tb_rt.py` that loads the program and then serves inferences over a unix socket
(`rill.rt.protocol`), and by default checks every inference against the VM in lockstep
(`check=True`: `rill.cosim.CosimMismatchError` at the first differing bit or cycle count).
"""

from __future__ import annotations

from pathlib import Path

from ..compile.program import Program
from .base import Runtime, RuntimeClosedError
from .protocol import ChannelClosed, ChannelTimeout
from .rtl_backend import RTLRuntime
from .sim import SimulatorError
from .vm_backend import VMRuntime

BACKENDS = ("vm", "rtl")


def open(program: Program | str | Path, backend: str = "vm", **options) -> Runtime:  # noqa: A001
    """A Runtime running `program` (a Program, or the path of a saved one) on `backend`:
    "vm" (no options) or "rtl" (`RTLRuntime` options: check=True, waves=False,
    load="backdoor", defines=None, timeout=120.0, startup_timeout=600.0, name, keep).
    Close it (close() or a `with` block) to end the simulation."""
    if isinstance(program, (str, Path)):
        program = Program.load(program)
    if backend == "vm":
        if options:
            raise TypeError(f"rill.rt.open(backend='vm') takes no options, got "
                            f"{sorted(options)}")
        return VMRuntime(program)
    if backend == "rtl":
        return RTLRuntime(program, **options)
    raise ValueError(f"backend={backend!r}: one of {', '.join(map(repr, BACKENDS))}")


__all__ = ["open", "Runtime", "RuntimeClosedError", "VMRuntime", "RTLRuntime",
           "SimulatorError", "ChannelClosed", "ChannelTimeout", "BACKENDS"]
