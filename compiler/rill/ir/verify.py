"""The NNIR verifier: structure and shapes, every error naming its node."""

from __future__ import annotations

from ..errors import NNIRError
from .conv import check_conv
from .graph import BINARY, ROW_FUNCS, UNARY, Graph, Node, OpKind
from .lanes import check_lanes, check_rows


def verify(g: Graph) -> Graph:
    """Check structure and shapes; raise NNIRError naming the node."""
    for n in g.nodes:  # parameters first: an empty layer is named, not the input it empties
        _check_parameters(n)
    seen: dict[str, Node] = {}
    for n in g.nodes:
        if n.name in seen:
            raise NNIRError(f"{n.where()}: duplicate node name")
        if n.shape and 0 in n.shape:
            raise NNIRError(
                f"{n.where()}: shape {tuple(n.shape)} is empty; every tensor needs at least one "
                f"row and one feature"
            )
        for i in n.inputs:
            if i not in seen:
                raise NNIRError(f"{n.where()}: input '{i}' is not defined before it")
        ins = [seen[i] for i in n.inputs]
        if n.op is OpKind.INPUT:
            if ins or not n.shape:
                raise NNIRError(f"{n.where()}: an input takes no operands and needs a shape")
        elif n.op is OpKind.LINEAR:
            (x,) = ins
            k = n.weight.shape[1]
            if x.shape[-1] != k or n.shape != x.shape[:-1] + (n.weight.shape[0],):
                raise NNIRError(
                    f"{n.where()}: weight {tuple(n.weight.shape)} expects {k} input features, "
                    f"got shape {x.shape} -> {n.shape}"
                )
        elif n.op in UNARY:
            if len(ins) != 1 or ins[0].shape != n.shape:
                raise NNIRError(f"{n.where()}: expects one operand of shape {n.shape}")
            for what, v in (("weight", n.weight), ("bias", n.bias)):
                if n.op in ROW_FUNCS and v is not None and v.shape != (n.shape[-1],):
                    raise NNIRError(f"{n.where()}: {what} of shape {tuple(v.shape)}, expected "
                                    f"({n.shape[-1]},)")
        elif n.op in BINARY:
            if n.const is not None:
                ok = len(ins) == 1 and ins[0].shape == n.shape
                ok = ok and n.const.ndim == 1 and n.const.shape[0] == n.shape[-1]
            else:
                ok = len(ins) == 2 and ins[0].shape == ins[1].shape == n.shape
            if not ok:
                raise NNIRError(
                    f"{n.where()}: operand shapes {[i.shape for i in ins]} do not match {n.shape}"
                )
        elif n.op is OpKind.WHERE:
            consts = [n.attrs.get(k) for k in ("a", "b")]
            ok = len(ins) == 1 + sum(c is None for c in consts)
            ok = ok and all(i.shape == n.shape for i in ins)
            ok = ok and all(c is None or (c.ndim == 1 and c.shape[0] == n.shape[-1])
                            for c in consts)
            if not ok:
                raise NNIRError(f"{n.where()}: mask and operand shapes {[i.shape for i in ins]} "
                                f"do not match {n.shape}")
        elif n.op is OpKind.LSTM:
            (x,) = ins
            if not n.layers or x.shape[-1] != n.layers[0].w_ih.shape[1]:
                raise NNIRError(f"{n.where()}: input features {x.shape[-1]} do not match weights")
        elif n.op is OpKind.GRU:
            _check_gru(n, *ins)
        elif n.op is OpKind.CONV1D:
            check_conv(n, *ins)
        elif n.op is OpKind.LANES:
            check_lanes(n, ins)
        elif n.op is OpKind.ROWS:
            check_rows(n, ins)
        elif n.op is OpKind.OUTPUT:
            if len(ins) != 1 or ins[0].shape != n.shape:
                raise NNIRError(f"{n.where()}: output must repeat its operand's shape")
        else:
            raise NNIRError(f"{n.where()}: unknown op")
        seen[n.name] = n
    if not g.inputs or not g.outputs:
        raise NNIRError(
            f"rill programs take at least one input and give at least one output; graph has "
            f"{len(g.inputs)} inputs and {len(g.outputs)} outputs"
        )
    return g


def _check_parameters(n: Node) -> None:
    params = [("weight", n.weight)] + [
        (f"layer {k} {name}", w) for k, layer in enumerate(n.layers)
        for name, w in (("w_ih", layer.w_ih), ("w_hh", layer.w_hh))
    ]
    for what, w in params:
        if n.op in ROW_FUNCS:
            continue  # a norm's weight is its per-feature scale (checked with the shapes)
        if w is not None and (w.ndim != (3 if n.op is OpKind.CONV1D else 2) or 0 in w.shape):
            raise NNIRError(
                f"{n.where()}: {what} of shape {tuple(w.shape)} is empty; a layer needs at "
                f"least one input and one output feature"
            )


def _check_gru(n: Node, x: Node) -> None:
    """GRU layers chain: layer k maps I_k features to H_k = I_{k+1}, each gate matrix [3H, .]."""
    feats = x.shape[-1]
    if not n.layers:
        raise NNIRError(f"{n.where()}: a GRU needs at least one layer")
    for k, layer in enumerate(n.layers):
        H = layer.w_hh.shape[1]
        biases = [b for b in (layer.b_ih, layer.b_hh) if b is not None]
        ok = layer.w_hh.shape == (3 * H, H) and layer.w_ih.shape == (3 * H, feats)
        ok = ok and len(biases) in (0, 2) and all(b.shape == (3 * H,) for b in biases)
        if not ok:
            raise NNIRError(
                f"{n.where()}: layer {k} w_ih {tuple(layer.w_ih.shape)}, w_hh "
                f"{tuple(layer.w_hh.shape)} do not fit {feats} input features (expected [3H, "
                f"{feats}], [3H, H] and both biases [3H] or none)"
            )
        feats = H
    if n.shape[-1] != feats:
        raise NNIRError(f"{n.where()}: output features {n.shape[-1]} are not the hidden size "
                        f"{feats}")
