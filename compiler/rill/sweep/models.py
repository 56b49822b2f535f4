"""The models a sweep compiles: built-in names, or the user's `module:factory` with a shape.

A model is built once, in the process that plans the sweep (torch runs there only): the
NNIR and the sample inputs go to the workers, which compile and run them without torch.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import RillError

# name -> (reference model in rill.models, input shape, streaming axis or None, what it is)
BUILTIN: dict[str, tuple[str, tuple[int, ...], int | None, str]] = {
    "lstm": ("LstmNet", (20, 128), 0, "the seed LSTM (128 -> 256 x 2 -> 16), streamed per step"),
    "lstm20": ("LstmNet", (20, 128), None, "the seed LSTM, 20 steps in one inference"),
    "gru": ("GruNet", (20, 128), 0, "the seed LSTM's sizes as a GRU, streamed"),
    "mlp": ("Mlp", (784,), None, "the benchmark MLP 784 -> 128 -> 128 (+res) -> 10"),
    "cnn": ("CnnNet", (1, 32, 20), 2, "the commercial example-2 CNN, streamed on axis 2"),
    "nlg": ("NormLinearGelu", (256,), None, "LayerNorm -> Linear -> GELU, d = 256"),
    "ffn": ("PreNormFfn", (256,), None, "pre-norm FFN block, d = 256"),
}


class ModelSpecError(RillError, ValueError):
    """A sweep's model cannot be built: unknown name, import or trace failure."""


@dataclasses.dataclass
class Model:
    """A model ready for the workers: its NNIR (streamed if asked) and the sample inputs."""

    name: str
    nnir: object  # rill.NNIR
    inputs: list[np.ndarray]  # one per inference (one per step when streamed)


def build(spec: str, input_shape: tuple[int, ...] | None = None,
          streaming_axis: int | None = None, seed: int = 0) -> Model:
    """`spec` is a built-in name (BUILTIN) or `module:factory` / `file.py:factory` (then
    `input_shape` is required; `streaming_axis` streams it along that axis)."""
    import torch

    import rill
    from rill import models as ref

    if spec in BUILTIN:
        cls, shape, axis, _ = BUILTIN[spec]
        torch.manual_seed(seed)
        model = getattr(ref, cls)().eval()
        shape = input_shape or shape
        axis = axis if streaming_axis is None else streaming_axis
    elif ":" in spec:
        from ..cli_common import load_model_factory

        if input_shape is None:
            raise ModelSpecError(f"model {spec!r}: --input-shape is required for a "
                                 f"module:factory model")
        factory = load_model_factory(spec)
        torch.manual_seed(seed)
        try:
            model = factory()
        except Exception as e:
            raise ModelSpecError(f"model {spec!r}: the factory raised {type(e).__name__}: "
                                 f"{e}") from e
        if not isinstance(model, torch.nn.Module):
            raise ModelSpecError(f"model {spec!r}: the factory returned "
                                 f"{type(model).__name__}, not a torch.nn.Module")
        model = model.eval()
        shape, axis = input_shape, streaming_axis
    else:
        raise ModelSpecError(f"unknown model {spec!r}; built-in: {', '.join(BUILTIN)}, or "
                             f"module:factory with --input-shape")
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(shape, generator=gen)
    with torch.no_grad():
        gm, _ = rill.fx.prepare_shape(model, x)
    nnir = rill.fx.nnir.to_nnir(gm)
    if axis is not None:
        nnir, _ = nnir.streaming_transform(axis)
        inputs = [np.ascontiguousarray(np.take(x.numpy(), t, axis=axis))
                  for t in range(x.shape[axis])]
    else:
        inputs = [x.numpy()]
    return Model(name=spec, nnir=nnir, inputs=inputs)
