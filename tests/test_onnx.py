"""`rill.NNIR.from_onnx`: models exported with torch.onnx.export compile to the same program bits
as the torch.fx path, and run close to torch (and to onnxruntime when it is installed)."""

import math
import warnings

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx.reference import ReferenceEvaluator

import rill
from rill.models import LstmNet, Mlp

try:
    import onnxruntime
except ImportError:  # the second reference is optional
    onnxruntime = None

C2B16 = rill.Config.c2b16()


def export(model, x, path, **kw):
    """The legacy (TorchScript) exporter, as users of torch 2.x still call it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (x,), str(path), dynamo=False, input_names=["x"], **kw)
    return path


def run(nnir, config, x, stream):
    vm = nnir.to_program(config).to_vm()
    return vm.run(x.numpy()) if stream is None else vm.run_timesteps(x.numpy(), stream)


def check(model, x, tmp_path, config=C2B16, stream=None, tol=1e-2, fx=True, **export_kw):
    """Export `model`, load it with from_onnx, and compare the VM's outputs with the fx path's
    (bit for bit), torch's and onnxruntime's. Returns the ONNX path's NNIR."""
    model.eval()
    path = export(model, x, tmp_path / "model.onnx", **export_kw)
    with torch.no_grad():
        expected = model(x).numpy()
    nnir = rill.NNIR.from_onnx(path)
    if stream is not None:
        nnir, out_axis = nnir.streaming_transform(stream)
    got = run(nnir, config, x, stream)
    if fx:
        gm, _ = rill.fx.prepare_shape(model, x)
        ref = rill.fx.nnir.to_nnir(gm)
        if stream is not None:
            ref, ref_axis = ref.streaming_transform(stream)
            assert out_axis == ref_axis
        assert np.array_equal(run(ref, config, x, stream), got, equal_nan=True)
    np.testing.assert_allclose(got, expected, atol=tol, rtol=tol)
    if onnxruntime is not None:
        sess = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (ort,) = sess.run(None, {"x": x.numpy()})
        np.testing.assert_allclose(got, ort, atol=tol, rtol=tol)
    return nnir


def test_seed_lstm_non_streaming_and_streaming(tmp_path):
    """The README flow at the seed's sizes, from an ONNX file."""
    torch.manual_seed(0)
    model, x = LstmNet(), torch.randn(20, 128)
    config = rill.Config.ia_840f_c3b64()
    nnir = check(model, x, tmp_path, config)
    assert [n.op for n in nnir.graph.nodes] == ["input", "lstm", "lstm", "linear", "output"]
    streamed = check(model, x, tmp_path, config, stream=0, tol=1e-3)
    prog = streamed.to_program(config)
    assert prog.cycle_count_per_inference() == 119  # the fx path's list schedule (README)


def test_gru_streaming(tmp_path):
    class Gru(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(12, 20, num_layers=2)
            self.fc = nn.Linear(20, 5)

        def forward(self, x):
            return self.fc(self.gru(x)[0])

    torch.manual_seed(1)
    check(Gru(), torch.randn(6, 12), tmp_path, stream=0)


def test_batch_first_lstm_streams_on_axis_1(tmp_path):
    """The exporter's Transposes around a batch-first LSTM move only the batch axis of 1: they
    vanish, and the stream axis stays where the fx path has it."""

    class Lstm(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(10, 24, batch_first=True)
            self.fc = nn.Linear(24, 3)

        def forward(self, x):
            return torch.relu(self.fc(self.lstm(x)[0]))

    torch.manual_seed(7)
    nnir = check(Lstm(), torch.randn(1, 6, 10), tmp_path, stream=1)
    assert [n.op for n in nnir.graph.nodes] == ["input", "lstm", "linear", "relu", "output"]


def test_mlp_with_residual(tmp_path):
    torch.manual_seed(2)
    nnir = check(Mlp(), torch.randn(1, 784), tmp_path)
    assert [n.op for n in nnir.graph.nodes].count("linear") == 3


class Elementwise(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(20, 24), nn.Linear(20, 24)
        self.scale = nn.Parameter(torch.linspace(-2, 2, 24))
        self.bn = nn.BatchNorm1d(24)

    def forward(self, x):
        a, b = self.a(x), self.bn(self.b(x))
        y = torch.clamp(a, -0.5, 0.75) - torch.maximum(a, b) * self.scale
        y = y + torch.minimum(b, torch.tensor(0.25)) + F.relu6(3 * b) + torch.abs(a)
        return torch.tanh(-y) + torch.sigmoid(1.5 - a) * torch.relu(b)


class Movement(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 32)  # on 3-D input: MatMul + Add in ONNX
        self.head = nn.Linear(32, 6)

    def forward(self, x):  # x: (2, 5, 16)
        h = torch.relu(self.fc(x))
        lo, hi = h[..., :16], h[..., 16:]
        y = torch.cat([hi, lo * 2], dim=-1) + h.mean(dim=-1, keepdim=True).expand(-1, -1, 32)
        y = y + h.sum(dim=1, keepdim=True).expand(-1, 5, -1) - h[:, 2:3].expand(2, 5, 32)
        z = y.permute(1, 0, 2).reshape(5, 64)
        return self.head(z[:, ::2])


class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(8, 12, 3, padding=1)
        self.causal = rill.nn.PaddedConv1d(12, 4, 2, dilation=2)

    def forward(self, x):  # x: (1, 8, L)
        return self.causal(torch.relu(self.conv(x)))


@pytest.mark.parametrize("model,shape", [
    (Elementwise, (3, 20)), (Movement, (2, 5, 16)), (Conv, (1, 8, 7))
], ids=["elementwise", "movement", "conv"])
def test_ops_match_the_fx_path(tmp_path, model, shape):
    torch.manual_seed(3)
    m = model()
    if isinstance(m, Elementwise):  # non-trivial statistics for the folded BatchNorm
        m.bn.running_mean.uniform_(-1, 1)
        m.bn.running_var.uniform_(0.5, 2)
    check(m, torch.randn(*shape), tmp_path)


def test_causal_conv_streams(tmp_path):
    class Causal(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = rill.nn.PaddedConv1d(8, 16, 3)
            self.c2 = rill.nn.PaddedConv1d(16, 2, 3)

        def forward(self, x):
            return torch.relu(self.c2(torch.relu(self.c1(x))))

    torch.manual_seed(4)
    check(Causal(), torch.randn(1, 8, 6), tmp_path, stream=2)


class Funcs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.ln = nn.Linear(8, 8), nn.LayerNorm(8)

    def forward(self, x):
        h = self.fc(x)
        pos = torch.abs(h) + 1
        a = torch.exp(h) + torch.log(pos) + torch.sqrt(pos) + torch.reciprocal(pos)
        b = torch.softmax(h, -1) + F.log_softmax(h, -1) + self.ln(h) + F.gelu(h)
        b = b + F.gelu(h, approximate="tanh") + F.silu(h) + F.softplus(h)
        return torch.where(h > 0.5, a, b) + torch.where(h <= x, 1.0, h) + x / pos + 2 / pos


@pytest.mark.skipif(not hasattr(rill.ir.OpKind, "SOFTMAX"), reason="no function ops in rill yet")
def test_function_ops_match_the_fx_path(tmp_path):
    """Exp, Log, Sqrt, Reciprocal, Softmax, LogSoftmax, LayerNormalization, Gelu, Softplus,
    Greater/LessOrEqual + Where, Div: the fx frontend's function ops, the same bits."""
    torch.manual_seed(8)
    check(Funcs(), torch.randn(3, 8), tmp_path)


class ErfGelu(nn.Module):
    """GELU written with erf, in the associations transformer code and exporters use."""

    def __init__(self, form: int):
        super().__init__()
        self.fc, self.form = nn.Linear(8, 8), form

    def forward(self, x):
        h = self.fc(x)
        if self.form == 0:  # Hugging Face's gelu
            return h * 0.5 * (1.0 + torch.erf(h / math.sqrt(2.0)))
        if self.form == 1:
            return 0.5 * h * (1 + torch.erf(h * (1 / math.sqrt(2.0)))) + h
        return h * ((torch.erf(h / math.sqrt(2.0)) + 1) * 0.5)


class GeluRef(nn.Module):
    def __init__(self, src: ErfGelu):
        super().__init__()
        self.fc, self.form = src.fc, src.form

    def forward(self, x):
        h = self.fc(x)
        return F.gelu(h) + h if self.form == 1 else F.gelu(h)


def test_gelu_spelled_with_erf(tmp_path):
    """nn.GELU exported below opset 20 (Div, Erf, Add, Mul, Mul) and hand-written erf GELUs
    in three associations: one gelu, the same bits as F.gelu through the fx path."""
    torch.manual_seed(11)
    x = torch.randn(3, 8)
    ops = [n.op_type for n in onnx.load(str(export(nn.GELU(), x, tmp_path / "g.onnx",
                                                   opset_version=17))).graph.node]
    assert "Erf" in ops and "Gelu" not in ops
    check(nn.Sequential(nn.Linear(8, 8), nn.GELU()), x, tmp_path, opset_version=17)
    for form in range(3):
        m = ErfGelu(form).eval()
        nnir = check(m, x, tmp_path, fx=False)
        gm, _ = rill.fx.prepare_shape(GeluRef(m), x)
        assert np.array_equal(run(rill.fx.nnir.to_nnir(gm), C2B16, x, None),
                              run(nnir, C2B16, x, None))


def test_erf_outside_gelu_is_refused(tmp_path):
    class Erfs(nn.Module):
        def forward(self, x):
            s = 1.0 + torch.erf(x / math.sqrt(2.0))  # s has a second use: not GELU's
            return x * 0.5 * s + s, torch.erf(x)

    path = export(Erfs(), torch.randn(2, 8), tmp_path / "erf.onnx")
    with pytest.raises(rill.UnsupportedError) as e:
        rill.NNIR.from_onnx(path)
    assert "Erf: only inside GELU written as x * 0.5 * (1 + erf(x / sqrt(2))) " in str(e.value)
    assert "2x at /Erf; /Erf_1" in str(e.value)


def test_ops_only_onnx_spells(tmp_path):
    """Division by a constant (a multiply by its reciprocal), Gather with a vector of indices,
    Flatten and Split: compared with torch and onnxruntime (the fx path refuses x / c)."""

    class Onnxish(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(12, 12)
            self.register_buffer("idx", torch.tensor([3, 0, 7, 7]))

        def forward(self, x):  # x: (1, 3, 12)
            h = self.fc(x) / 4
            a, b = torch.split(h, [5, 7], dim=-1)
            g = torch.index_select(h, 2, self.idx)
            a = a * g[..., :1].expand_as(a)
            return torch.cat([torch.flatten(b, 1), torch.flatten(a, 1)], dim=-1)

    torch.manual_seed(5)
    check(Onnxish(), torch.randn(1, 3, 12), tmp_path, fx=False)


def test_an_older_opset(tmp_path):
    """Opset 11: axes as attributes (Squeeze/Unsqueeze), folded with the model's own opset."""
    torch.manual_seed(9)
    check(LstmNet(8, 16, 2, 4), torch.randn(5, 8), tmp_path, stream=0, opset_version=11)
    assert onnx.load(str(tmp_path / "model.onnx")).opset_import[0].version == 11
    check(Elementwise(), torch.randn(3, 20), tmp_path, opset_version=11)


def test_hand_built_graph_two_inputs_two_outputs(tmp_path):
    """Node forms exporters rarely emit: Gemm with transB=0, alpha and beta; Max of three
    operands with a scalar; Dropout, Identity, Split, Squeeze/Unsqueeze, Flatten, Slice; two
    inputs and two outputs. Against onnx's reference evaluator (and onnxruntime)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(10)
    w = rng.standard_normal((6, 5)).astype(np.float32)
    c = rng.standard_normal(5).astype(np.float32)

    def const(name, v):
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(
            np.asarray(v), name))

    nodes = [
        helper.make_node("Gemm", ["x", "w", "c"], ["g"], alpha=0.5, beta=2.0, name="gemm"),
        helper.make_node("Sigmoid", ["g"], ["sg"], name="sig"),
        const("lo", np.float32(0.1)),
        helper.make_node("Max", ["g", "sg", "lo"], ["m"], name="max3"),
        helper.make_node("Dropout", ["m"], ["d"], name="drop"),
        helper.make_node("Identity", ["d"], ["i"], name="ident"),
        const("sizes", np.array([2, 3], np.int64)),
        helper.make_node("Split", ["i", "sizes"], ["s0", "s1"], axis=1, name="split"),
        const("ax0", np.array([0], np.int64)),
        helper.make_node("Unsqueeze", ["s1", "ax0"], ["u"], name="unsq"),
        helper.make_node("Squeeze", ["u"], ["sq"], name="sq"),
        helper.make_node("Concat", ["s0", "sq"], ["cat"], axis=1, name="cat"),
        const("ax2", np.array([2], np.int64)),
        helper.make_node("Unsqueeze", ["cat", "ax2"], ["u2"], name="unsq2"),
        helper.make_node("Flatten", ["u2"], ["f"], axis=1, name="flat"),
        const("st", np.array([1], np.int64)), const("en", np.array([99], np.int64)),
        const("ax1", np.array([1], np.int64)),
        helper.make_node("Slice", ["y", "st", "en", "ax1"], ["ys"], name="slice"),
        helper.make_node("Sub", ["f", "ys"], ["diff"], name="sub"),
        helper.make_node("Relu", ["diff"], ["out1"], name="relu"),
        helper.make_node("Neg", ["y"], ["out2"], name="neg"),
    ]
    graph = helper.make_graph(
        nodes, "hand",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 6]),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 6])],
        [helper.make_tensor_value_info("out1", TensorProto.FLOAT, [4, 5]),
         helper.make_tensor_value_info("out2", TensorProto.FLOAT, [4, 6])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(c, "c")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / "hand.onnx"
    onnx.save(model, str(path))
    x = rng.standard_normal((4, 6)).astype(np.float32)
    y = rng.standard_normal((4, 6)).astype(np.float32)
    got = rill.NNIR.from_onnx(path).to_program(C2B16).to_vm().run(x, y)
    refs = [ReferenceEvaluator(model).run(None, {"x": x, "y": y})]
    if onnxruntime is not None:
        sess = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        refs.append(sess.run(None, {"x": x, "y": y}))
    for ref in refs:
        for g, r in zip(got, ref, strict=True):
            np.testing.assert_allclose(g, r, atol=1e-2, rtol=1e-2)


def test_dynamic_axes_need_an_override(tmp_path):
    torch.manual_seed(6)
    model, x = LstmNet(8, 16, 1, 4).eval(), torch.randn(5, 8)
    path = export(model, x, tmp_path / "dyn.onnx", dynamic_axes={"x": {0: "seq"}})
    with pytest.raises(rill.UnsupportedError, match=r"input 'x'.*dynamic axis 0 \('seq'"):
        rill.NNIR.from_onnx(path)
    with pytest.raises(rill.UnsupportedError, match="'y', which is not an input"):
        rill.NNIR.from_onnx(path, override_input_shapes={"y": (7, 8)})
    with pytest.raises(rill.UnsupportedError, match="axis 1 is 8"):
        rill.NNIR.from_onnx(path, override_input_shapes={"x": (7, 9)})
    x7 = torch.randn(7, 8)
    nnir = rill.NNIR.from_onnx(path, override_input_shapes={"x": (7, 8)})
    gm, expected = rill.fx.prepare_shape(model, x7)
    ref = rill.fx.nnir.to_nnir(gm)
    got = run(nnir, C2B16, x7, None)
    assert got.shape == (7, 4)
    assert np.array_equal(got, run(ref, C2B16, x7, None))
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-2, rtol=1e-2)


def test_unsupported_nodes_are_listed_in_one_error(tmp_path):
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            h = self.fc(x)
            y = torch.sin(h) + torch.sin(h * 2) + torch.cumsum(h, -1)
            return y, x @ h.T  # a product of two tensors

    path = export(Bad(), torch.randn(2, 8), tmp_path / "bad.onnx")
    with pytest.raises(rill.UnsupportedError) as e:
        rill.NNIR.from_onnx(path)
    msg = str(e.value)
    assert "bad.onnx" in msg
    assert "Sin: not supported: 2x at /Sin; /Sin_1" in msg
    assert "CumSum: not supported: 1x at /CumSum" in msg
    assert "MatMul: needs one constant matrix operand (x @ W or W @ x): 1x at /MatMul" in msg


def test_errors_of_the_fx_frontend_name_the_onnx_node(tmp_path):
    class Broadcast(nn.Module):
        def forward(self, x):
            return x * x[:1, :]  # a tensor operand broadcast over rows

    path = export(Broadcast(), torch.randn(3, 16), tmp_path / "bc.onnx")
    with pytest.raises(rill.UnsupportedError, match=r"bc\.onnx:\d+: Mul '/Mul'"):
        rill.NNIR.from_onnx(path)


def test_bad_files(tmp_path):
    missing = tmp_path / "missing.onnx"
    with pytest.raises(rill.LoadError, match="missing.onnx"):
        rill.NNIR.from_onnx(missing)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\xffnot a protobuf at all" * 10)
    with pytest.raises(rill.LoadError, match="junk.onnx"):
        rill.NNIR.from_onnx(junk)
    with pytest.raises(rill.LoadError, match=str(tmp_path)):
        rill.NNIR.from_onnx(tmp_path)  # a directory


def test_import_rill_stays_light():
    import subprocess
    import sys

    code = "import sys, rill; sys.exit('onnx' in sys.modules or 'torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
