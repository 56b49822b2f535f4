"""GELU spelled with Erf in ONNX: `x · 0.5 · (1 + erf(x / √2))` -> one `gelu(x)`.

`torch.onnx.export` writes `nn.GELU()` / `F.gelu` as one `Gelu` node from opset 20 on; below
opset 20 (still what many deployment runtimes ask for) it writes

    Div(x, √2) -> Erf -> Add(·, 1) -> Mul(x, ·) -> Mul(·, 0.5)

and a hand-written GELU (`x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))`, common in
transformer code) exports the same nodes in its own association. `match` recognises the
pattern around an `Erf` node in every association of the three factors `x`, `0.5` and
`1 + erf(…)`, with `x / √2` written as a Div by √2 or a Mul by 1/√2 (constants on either side
of a Mul or Add, as scalars). The intermediate values must have no other consumer. rill then
computes `x · Φ(x)` with its normal-CDF table, the same program the fx path makes of
`F.gelu(x)`: equal in exact arithmetic, and the same bits as that path.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

SQRT2 = math.sqrt(2.0)
_REL = 1e-6  # constants are fp32 roundings of √2 and 1/√2 (float32 √2 is 1.41421354)


@dataclasses.dataclass(frozen=True)
class GeluMatch:
    x: str  # the value GELU applies to
    output: str  # the value that holds gelu(x): the last Mul's output
    nodes: tuple[int, ...]  # graph positions (from 0) of the pattern's nodes, Erf included


class _Graph:
    """Producers, consumers and static constants of an ONNX graph."""

    def __init__(self, graph, consts: dict[str, np.ndarray]):
        self.nodes = list(graph.node)
        self.producer = {o: k for k, n in enumerate(self.nodes) for o in n.output if o}
        self.consumers: dict[str, list[int]] = {}
        for k, n in enumerate(self.nodes):
            for i in n.input:
                if i:
                    self.consumers.setdefault(i, []).append(k)
        self.outputs = {o.name for o in graph.output}
        self.consts = consts

    def scalar(self, name: str) -> float | None:
        """The value of a one-element constant (an initializer or a Constant node), else None."""
        v = self.consts.get(name)
        if v is None:
            k = self.producer.get(name)
            if k is None or self.nodes[k].op_type != "Constant":
                return None
            v = _constant_value(self.nodes[k])
        if v is None or np.asarray(v).size != 1 or np.asarray(v).dtype.kind != "f":
            return None
        return float(np.asarray(v).reshape(()))

    def only_use(self, name: str) -> int | None:
        """The single consumer of an intermediate value (None if it has more, or is an output)."""
        users = self.consumers.get(name, [])
        if len(users) != 1 or name in self.outputs:
            return None
        return users[0]

    def node(self, k: int | None, op: str):
        if k is None or self.nodes[k].op_type != op or self.nodes[k].domain not in ("", "ai.onnx"):
            return None
        return self.nodes[k]

    def split(self, n, value: float) -> str | None:
        """For a binary node with one input the scalar `value`: its other input."""
        a, b = n.input[0], n.input[1]
        for c, other in ((b, a), (a, b)):
            s = self.scalar(c)
            if s is not None and math.isclose(s, value, rel_tol=_REL):
                return other
        return None


def _constant_value(n) -> np.ndarray | None:
    from onnx import helper, numpy_helper

    for at in n.attribute:
        v = helper.get_attribute_value(at)
        if at.name == "value":
            return numpy_helper.to_array(v)
        if at.name == "value_float":
            return np.float32(v)
        if at.name == "value_floats":
            return np.asarray(v, np.float32)
    return None


def _scaled_input(g: _Graph, u: str) -> tuple[str, int] | None:
    """u = x / √2 (Div) or x · (1/√2) (Mul): (x, the node's position)."""
    k = g.producer.get(u)
    n = g.node(k, "Div")
    if n is not None:
        s = g.scalar(n.input[1])
        if s is not None and math.isclose(s, SQRT2, rel_tol=_REL):
            return n.input[0], k
        return None
    n = g.node(k, "Mul")
    if n is not None:
        x = g.split(n, 1.0 / SQRT2)
        if x is not None:
            return x, k
    return None


def match(graph, consts: dict[str, np.ndarray], erf_index: int) -> GeluMatch | None:
    """The GELU pattern around the Erf node at `erf_index` (from 0), or None."""
    g = _Graph(graph, consts)
    erf = g.nodes[erf_index]
    scaled = _scaled_input(g, erf.input[0])
    if scaled is None or g.only_use(erf.input[0]) != erf_index:
        return None
    x, k_scale = scaled
    k_add = g.only_use(erf.output[0])
    add = g.node(k_add, "Add")
    if add is None or g.split(add, 1.0) != erf.output[0]:
        return None
    s = add.output[0]  # 1 + erf(x/√2)
    k_m1 = g.only_use(s)
    m1 = g.node(k_m1, "Mul")
    if m1 is None:
        return None
    other = m1.input[1] if m1.input[0] == s else m1.input[0]
    found = None
    if other == x or _half(g, other) == x:
        if other == x:  # (x · s) · 0.5
            k_m2 = g.only_use(m1.output[0])
            m2 = g.node(k_m2, "Mul")
            if m2 is not None and g.split(m2, 0.5) == m1.output[0]:
                found = (m2.output[0], (k_m1, k_m2))
        else:  # (x · 0.5) · s; the half may have other users, it stays
            found = (m1.output[0], (k_m1,))
    elif g.scalar(other) is not None and math.isclose(g.scalar(other), 0.5, rel_tol=_REL):
        k_m2 = g.only_use(m1.output[0])  # (s · 0.5) · x
        m2 = g.node(k_m2, "Mul")
        if m2 is not None:
            rest = m2.input[1] if m2.input[0] == m1.output[0] else m2.input[0]
            if rest == x:
                found = (m2.output[0], (k_m1, k_m2))
    if found is None:
        return None
    out, muls = found
    return GeluMatch(x, out, (k_scale, erf_index, k_add, *muls))


def _half(g: _Graph, name: str) -> str | None:
    """name = x · 0.5 (a Mul by the scalar 0.5, either side): x, else None."""
    n = g.node(g.producer.get(name), "Mul")
    return None if n is None else g.split(n, 0.5)
