"""`prepare_shape`: trace a model with torch.fx and record every activation's shape."""

from __future__ import annotations

import torch
import torch.fx
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

from ..errors import UnsupportedError
from ..nn import PaddedConv1d

__all__ = ["prepare_shape"]


def _shape_of(meta):
    """ShapeProp's node.meta['tensor_meta'] -> a shape tuple (nested like the node's value)."""
    if isinstance(meta, TensorMetadata):  # a NamedTuple itself: test it before tuple
        return tuple(meta.shape)
    if isinstance(meta, (tuple, list)):
        return tuple(_shape_of(x) for x in meta)
    return None


class _Tracer(torch.fx.Tracer):
    """torch.fx's tracer, keeping rill.nn modules (PaddedConv1d) as leaves like torch.nn's."""

    def is_leaf_module(self, m: torch.nn.Module, qualname: str) -> bool:
        return isinstance(m, PaddedConv1d) or super().is_leaf_module(m, qualname)


def prepare_shape(model: torch.nn.Module, *inputs: torch.Tensor):
    """Trace `model` with torch.fx (recording source lines) and run it on `inputs`.

    Returns (GraphModule, expected_output): the output is what the float32 model computes, the
    reference users compare the VM against. Each node gets node.meta['shape'] (the frontend's
    input) from torch's ShapeProp.
    """
    tracer = _Tracer()
    tracer.record_stack_traces = True
    if isinstance(model, torch.nn.RNNBase):
        raise UnsupportedError(
            f"a bare {type(model).__name__} cannot be the model: it returns (output, state) and "
            f"torch.fx cannot trace its forward; wrap it in a module whose forward returns "
            f"self.lstm(x)[0]"
        )
    try:
        graph = tracer.trace(model)
    except torch.fx.proxy.TraceError as e:
        raise UnsupportedError(
            f"torch.fx cannot trace {type(model).__name__}: {e} (rill compiles models without "
            f"data-dependent control flow)"
        ) from e
    gm = torch.fx.GraphModule(tracer.root, graph, model.__class__.__name__)
    with torch.no_grad():
        try:
            expected = ShapeProp(gm).propagate(*inputs)
        except RuntimeError as e:
            # ShapeProp wraps the model's own error; raise that one, as the model would
            if e.__cause__ is not None and str(e).startswith("ShapeProp error"):
                raise e.__cause__ from None
            raise
    for n in gm.graph.nodes:
        n.meta["shape"] = _shape_of(n.meta.get("tensor_meta"))
    return gm, expected
