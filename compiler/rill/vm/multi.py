"""The VM of a program of several models (`rill.ProgramBuilder`): one VM per model.

Each model runs its own instruction segment (`Program.model(k)`: the linked bundles, the whole
weight image and constant bank) on a register image of its own. That is exactly the
hardware's behaviour: the linker gives every model a register range no other model reads or
writes (compile/link.py), so a model's state is untouched by the others' inferences, and a
clear of one model zeroes only its range.
"""

from __future__ import annotations

import numpy as np

from ..compile.program import Program


class MultiModelVM:
    """`run(x, model_index=k)`, `run_timesteps`, `run_beats`, `reset(model_index=None)`."""

    def __init__(self, program: Program):
        self.program = program
        self.vms = [program.model(k).to_vm() for k in range(program.num_models())]

    def vm(self, model_index: int = 0):
        """The VM of model `model_index` (a one-model VM over its segment)."""
        return self.vms[self.program.check_model_index(model_index)]

    def num_models(self) -> int:
        return len(self.vms)

    def reset(self, model_index: int | None = None) -> None:
        """Model `model_index`'s state back to zero; None: every model's."""
        for vm in (self.vms if model_index is None else [self.vm(model_index)]):
            vm.reset()

    def run(self, *xs, model_index: int = 0, trace=None) -> np.ndarray:
        vm = self.vm(model_index)
        if len(xs) == 1:
            return vm.run(xs[0], trace=trace)
        return vm.run(*xs, trace=trace)  # several inputs: vm.run(x, y)

    def run_beats(self, beats: np.ndarray, *, trace=None, model_index: int = 0) -> np.ndarray:
        return self.vm(model_index).run_beats(beats, trace=trace)

    def run_timesteps(self, x: np.ndarray, axis: int = 0, *, trace=None,
                      model_index: int = 0) -> np.ndarray:
        return self.vm(model_index).run_timesteps(x, axis, trace=trace)

    def cycle_count_per_inference(self, model_index: int = 0) -> int:
        return self.program.cycle_count_per_inference(model_index)
