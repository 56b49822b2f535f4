"""torch.fx frontend: `prepare_shape` traces a model and records every activation's shape."""

from __future__ import annotations

import torch
import torch.fx

from . import nnir

__all__ = ["prepare_shape", "nnir"]


class _ShapeRecorder(torch.fx.Interpreter):
    """Runs the traced graph once, keeping each node's output shape in node.meta['shape']."""

    def run_node(self, n: torch.fx.Node):
        result = super().run_node(n)
        n.meta["shape"] = _shape_of(result)
        return result


def _shape_of(v):
    if isinstance(v, torch.Tensor):
        return tuple(v.shape)
    if isinstance(v, (tuple, list)):
        return tuple(_shape_of(x) for x in v)
    return None


def prepare_shape(model: torch.nn.Module, *inputs: torch.Tensor):
    """Trace `model` with torch.fx (recording source lines) and run it on `inputs`.

    Returns (GraphModule, expected_output): the output is what the float32 model computes, the
    reference users compare the VM against.
    """
    tracer = torch.fx.Tracer()
    tracer.record_stack_traces = True
    graph = tracer.trace(model)
    gm = torch.fx.GraphModule(tracer.root, graph, model.__class__.__name__)
    with torch.no_grad():
        expected = _ShapeRecorder(gm).run(*inputs)
    return gm, expected
