"""The `Runtime` interface of `rill.rt`, shared by both backends.

Everything a user's input goes through is here, before a backend sees it: the input's
conversion to beats (`Program.input_beats`, so a wrong shape or dtype is the VM's own
`VMInputError`), the checks of `run_timesteps` and of a model index. A backend implements
`_infer(beats, model_index) -> output beats`, `_reset(model_index)` and `_close()`.
"""

from __future__ import annotations

import numpy as np

from ..compile import multi_io
from ..compile.program import Program, as_sequence
from ..errors import VMInputError


class RuntimeClosedError(RuntimeError):
    """The runtime was closed: nothing more runs on it."""


class Runtime:
    """One program on one backend, inference after inference, state carried between calls.

    run(x) / run(x, y): float32 in, float32 out, exactly like `program.to_vm().run(x)`;
    run_beats(beats): raw bf16 input beats [n_in, B] -> output beats [n_out, B];
    run_timesteps(x, axis): a whole sequence through a streaming program (VM.run_timesteps);
    reset(): back to the initial streaming state (the VM's reset, the RTL's clear_i);
    cycles: cycles of every inference since open (predicted on the VM, measured on the RTL:
    first input beat accepted -> last output beat valid); last_cycles; close() (also as a
    context manager; closing twice is harmless).
    """

    backend = ""

    def __init__(self, program: Program):
        if not isinstance(program, Program):
            raise TypeError(f"rill.rt: a rill.Program (or a path to one), got "
                            f"{type(program).__name__}")
        self.program = program
        self.cycles: list[int] = []
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self.cycles)} inferences"
        return (f"<rill.rt {self.backend} runtime: {self.program.name!r} on "
                f"{self.program.config}, {state}>")

    # -- the interface --------------------------------------------------------------------
    @property
    def last_cycles(self) -> int | None:
        return self.cycles[-1] if self.cycles else None

    @property
    def closed(self) -> bool:
        return self._closed

    def run(self, *xs, model_index: int = 0):
        """One inference, like VM.run: a streaming program keeps its state for the next call."""
        k = self._prepare(model_index)
        if multi_io.is_multi(self.program.model_input_shape(k)):
            x = xs[0] if len(xs) == 1 and isinstance(xs[0], (tuple, list)) else xs
        elif len(xs) != 1:
            raise VMInputError(f"program {self.program.name!r} takes one input, got {len(xs)}")
        else:
            x = xs[0]
        beats = self.program.input_beats(x, k)
        return self.program.output_from_beats(self._infer(beats, k), k)

    def run_beats(self, beats: np.ndarray, model_index: int = 0) -> np.ndarray:
        """One inference from raw input beats ([n_in, B] uint16 bf16 bits) to output beats."""
        k = self._prepare(model_index)
        p = self.program.model(k)
        beats = np.asarray(beats)
        if beats.shape != (p.n_in, p.B) or beats.dtype != np.uint16:
            raise VMInputError(f"input beats: expected uint16 [{p.n_in}, {p.B}], got "
                               f"{beats.dtype} {list(beats.shape)}")
        return self._infer(beats, k)

    def run_timesteps(self, x, axis: int = 0, model_index: int = 0) -> np.ndarray:
        """A whole sequence through a streaming program, one element per inference (like
        VM.run_timesteps). Every step is converted before the first one runs: a bad input
        raises before anything reaches the backend."""
        k = self._prepare(model_index)
        x = as_sequence(x, axis)
        steps = [self.program.input_beats(np.take(x, t, axis=axis), k)
                 for t in range(x.shape[axis])]
        return np.stack([self.program.output_from_beats(self._infer(b, k), k) for b in steps],
                        axis=axis)

    def reset(self, model_index: int | None = None) -> None:
        """Back to the initial streaming state (all models', or one model's)."""
        k = None if model_index is None else self.program.check_model_index(model_index)
        self._check_open()
        self._reset(k)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- for the backends -----------------------------------------------------------------
    def _prepare(self, model_index) -> int:
        k = self.program.check_model_index(model_index)
        self._check_open()
        return k

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeClosedError(f"{self!r}: closed")

    def _infer(self, beats: np.ndarray, model_index: int) -> np.ndarray:
        raise NotImplementedError

    def _reset(self, model_index: int | None) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        pass
