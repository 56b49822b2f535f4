"""Programs of several inputs or outputs (`forward(x, y)`, `return (a, b)`).

`Program.input_shape` is then a tuple of the inputs' shapes (in the order of `forward`'s
arguments) and the input stream carries the first input's beats, then the second's, ... (each
as one input alone: rows of feature blocks, zero padded); likewise `output_shape` and the
output stream, in the order of the returned tuple. One input or output keeps the plain shape.
"""

from __future__ import annotations

import numpy as np

from ..errors import VMInputError
from ..hw.numerics import bf16_bits_to_f32, f32_to_bf16_bits


def is_multi(shape) -> bool:
    return isinstance(shape, tuple) and bool(shape) and all(
        isinstance(s, (tuple, list)) for s in shape)


def as_shape(v) -> tuple:
    """A shape from a file header: a list of ints, or a list of such lists."""
    return tuple(tuple(s) if isinstance(s, list) else s for s in v)


def shapes(shape) -> list[tuple[int, ...]]:
    return [tuple(s) for s in shape] if is_multi(shape) else [tuple(shape)]


def n_beats(shape: tuple[int, ...], B: int) -> int:
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    return rows * -(-shape[-1] // B)


def input_beats(xs, shape, B: int, as_float) -> np.ndarray:
    parts = shapes(shape)
    if not isinstance(xs, (tuple, list)) or len(xs) != len(parts):
        raise VMInputError(f"the program takes {len(parts)} inputs of shapes {parts}: pass a "
                           f"tuple of them (vm.run(x, y) or vm.run((x, y)))")
    out = []
    for k, (x, s) in enumerate(zip(xs, parts, strict=True)):
        x = as_float(x, f"input {k}")
        if tuple(x.shape) != s:
            raise VMInputError(f"input {k} shape {tuple(x.shape)} does not match the program's "
                               f"{s}")
        rows = x.reshape(-1, s[-1])
        fb = -(-s[-1] // B)
        padded = np.zeros((rows.shape[0], fb * B), np.float32)
        padded[:, : s[-1]] = rows
        out.append(f32_to_bf16_bits(padded.reshape(-1, B)))
    return np.concatenate(out)


def outputs_from_beats(beats: np.ndarray, shape, B: int) -> tuple[np.ndarray, ...]:
    vals = bf16_bits_to_f32(np.asarray(beats))
    out, pos = [], 0
    for s in shapes(shape):
        n = n_beats(s, B)
        rows = vals[pos : pos + n].reshape(int(np.prod(s[:-1], dtype=np.int64)), -1)
        out.append(np.ascontiguousarray(rows[:, : s[-1]].reshape(s), np.float32))
        pos += n
    return tuple(out)


def multi_vm(vm_class, program):
    """A VM whose `run` takes the inputs as arguments: `vm.run(x, y)` (or one tuple)."""

    class MultiVM(vm_class):
        def run(self, *xs, model_index: int = 0, trace=None):
            return super().run(xs[0] if len(xs) == 1 and isinstance(xs[0], (tuple, list))
                               else xs, model_index=model_index, trace=trace)

    return MultiVM(program)
