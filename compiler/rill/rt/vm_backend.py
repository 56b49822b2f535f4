"""`rill.rt` on the golden VM: `program.to_vm()` behind the Runtime interface; cycles are the
program's prediction (`cycle_count_per_inference`), which the RTL measures the same."""

from __future__ import annotations

import numpy as np

from ..compile.program import Program
from .base import Runtime


class VMRuntime(Runtime):
    backend = "vm"

    def __init__(self, program: Program):
        super().__init__(program)
        self.vm = program.to_vm()

    def _infer(self, beats: np.ndarray, model_index: int) -> np.ndarray:
        out = self.vm.run_beats(beats, model_index=model_index)
        self.cycles.append(self.program.cycle_count_per_inference(model_index))
        return out

    def _reset(self, model_index: int | None) -> None:
        # one model's state alone: a multi-model VM's reset(model_index) (wired with it)
        if model_index is None or self.program.num_models() == 1:
            self.vm.reset()
        else:
            self.vm.reset(model_index)
