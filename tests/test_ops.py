"""Each supported op, compiled and run on the VM, against torch float32."""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from conftest import CONFIGS, compile_model

from rill.models import Mlp


class Unary(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.fc = nn.Linear(20, 24)
        self.relu = nn.ReLU()
        self.sig = nn.Sigmoid()
        self.tanh = nn.Tanh()

    def forward(self, x):
        y = self.fc(x) * 3
        return {
            "relu_module": lambda: self.relu(y),
            "relu_function": lambda: F.relu(y),
            "relu_method": lambda: y.relu(),
            "torch_relu": lambda: torch.relu(y),
            "sigmoid_module": lambda: self.sig(y),
            "sigmoid_function": lambda: torch.sigmoid(y),
            "sigmoid_method": lambda: y.sigmoid(),
            "tanh_module": lambda: self.tanh(y),
            "tanh_function": lambda: torch.tanh(y),
            "tanh_method": lambda: y.tanh(),
        }[self.kind]()


class Binary(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.a = nn.Linear(20, 24)
        self.b = nn.Linear(20, 24)
        self.scale = nn.Parameter(torch.linspace(-2, 2, 24))

    def forward(self, x):
        a, b = self.a(x), self.b(x)
        return {
            "add": lambda: a + b,
            "sub": lambda: a - b,
            "mul": lambda: a * b,
            "torch_add": lambda: torch.add(a, b),
            "method_mul": lambda: a.mul(b),
            "add_scalar": lambda: a + 0.5,
            "scalar_sub": lambda: 1.5 - a,
            "mul_scalar": lambda: 2 * a,
            "mul_param": lambda: a * self.scale,
            "sub_param": lambda: a - self.scale,
        }[self.kind]()


def check(model, x, config, atol=2e-2, rtol=1e-2):
    program, expected = compile_model(model, x, config)
    y = program.to_vm().run(x.numpy())
    assert y.dtype == np.float32 and y.shape == tuple(expected.shape)
    torch.testing.assert_close(torch.from_numpy(y), expected, atol=atol, rtol=rtol)
    return program


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16", "c3b16"])
@pytest.mark.parametrize("kind", [
    "relu_module", "relu_function", "relu_method", "torch_relu", "sigmoid_module",
    "sigmoid_function", "sigmoid_method", "tanh_module", "tanh_function", "tanh_method"])
def test_unary(kind, cfg):
    check(Unary(kind), torch.randn(3, 20), CONFIGS[cfg])


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16", "c3b16"])
@pytest.mark.parametrize("kind", ["add", "sub", "mul", "torch_add", "method_mul", "add_scalar",
                                  "scalar_sub", "mul_scalar", "mul_param", "sub_param"])
def test_binary(kind, cfg):
    check(Binary(kind), torch.randn(3, 20), CONFIGS[cfg])


@pytest.mark.parametrize("cfg", ["c1b8", "c2b16", "c3b16", "ia_840f_c3b64"])
@pytest.mark.parametrize("shape", [(5,), (4, 37), (2, 3, 64), (1, 200)])
def test_linear_shapes(shape, cfg):
    model = nn.Sequential(nn.Linear(shape[-1], 70), nn.ReLU(), nn.Linear(70, 9))
    check(model, torch.randn(*shape), CONFIGS[cfg])


def test_linear_without_bias_and_exact_small_integers():
    """Integer weights and inputs: every sum is exact, so the VM must match torch exactly."""
    model = nn.Linear(40, 10, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.randint(-8, 8, (10, 40)).float())
    x = torch.randint(-8, 8, (2, 40)).float()
    program = check(model, x, CONFIGS["c2b16"], atol=0, rtol=0)
    assert program.cycle_count_per_inference() > 0


@pytest.mark.parametrize("cfg", ["c2b16", "c3b16", "ia_840f_c3b64"])
def test_mlp_with_residual(cfg):
    program = check(Mlp(), torch.randn(784), CONFIGS[cfg], atol=1e-2)
    assert program.n_in == -(-784 // CONFIGS[cfg].block_size)


def _issued_nodes(program) -> set[str]:
    """The model ops that have at least one instruction in the program."""
    d = program.debug
    idx = {int(k) for k in np.unique(d.slots[..., 1]) if k >= 0}
    return {d.nodes[k].name for k in idx}


class _SumThenLinear(nn.Module):
    """`out(f(x) + g(x))`: both addends one Linear from the input, so neither waits for the
    other through a matrix op."""

    def __init__(self):
        super().__init__()
        self.f, self.g, self.out = nn.Linear(40, 40), nn.Linear(40, 40), nn.Linear(40, 10)

    def forward(self, x):
        return self.out(self.f(x) + torch.relu(self.g(x)))


def test_linear_of_residual_sum_takes_the_early_part_into_its_chain():
    """`fc3(relu(fc2(h)) + h)`: the ADD is gone (fc3 accumulates W h first, then W relu(..)),
    the result still matches torch, and the program is shorter than `W (a + b)` by about the
    ADD it no longer waits for (docs/numerics.md, "Linear of a sum")."""
    import rill.compile.lower as lower

    cfg = CONFIGS["ia_840f_c3b64"]
    program = check(Mlp(), torch.randn(784), cfg, atol=1e-2)  # as test_mlp_with_residual
    assert "add" not in _issued_nodes(program) and "fc3" in _issued_nodes(program)
    saved = lower.Lowering.linear_of_sum
    try:
        lower.Lowering.linear_of_sum = lambda *a: None  # the plain form, for comparison
        plain, _ = compile_model(Mlp(), torch.randn(784), cfg)
    finally:
        lower.Lowering.linear_of_sum = saved
    assert "add" in _issued_nodes(plain)
    assert program.cycle_count_per_inference() <= plain.cycle_count_per_inference() - 4


def test_linear_of_a_sum_of_peers_keeps_the_add():
    """Neither addend waits for the other: distributing would only add MACs."""
    program = check(_SumThenLinear(), torch.randn(40), CONFIGS["c2b16"], atol=1e-2)  # bf16 W
    assert "add" in _issued_nodes(program)


class _ReluBetween(nn.Module):
    """A ReLU read by a Linear only (folded away), and one read by a Linear and an ADD too
    (kept for the ADD, folded into the Linear's reads)."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(20, 24), nn.Linear(24, 24), nn.Linear(24, 8)

    def forward(self, x):
        h = torch.relu(self.a(x * 4))  # x * 4: the specials below overflow to +-inf too
        g = torch.relu(self.b(h))
        return self.c(g) + g[..., :8]


def test_relu_folded_into_matrix_reads_gives_the_relu_ops_bits():
    """fold_relu (isa m_relu) changes no bit: the same model compiled without the fold gives
    the same output bits, on ordinary inputs and on inputs holding -inf, NaN, -0 and huge
    values; a RELU that only Linears read is gone, one an ADD reads stays."""
    import rill.compile.compiler as compiler
    from rill.hw import isa

    torch.manual_seed(3)
    model, cfg = _ReluBetween(), CONFIGS["c2b16"]
    x = torch.randn(4, 20)
    x[1, :5] = torch.tensor([float("-inf"), float("nan"), -0.0, 3e38, -3e38])
    x[2, 3] = float("inf")
    folded, expected = compile_model(model, x, cfg)
    saved = compiler.fold_relu
    try:
        compiler.fold_relu = lambda df: 0
        plain, _ = compile_model(model, x, cfg)
    finally:
        compiler.fold_relu = saved

    def relus(p):
        b = [isa.decode(raw, p.config) for raw in p.bundles]
        return (sum(x.v_op == isa.VOp.RELU for core in b for x in core),
                sum(x.m_relu for core in b for x in core))

    (v_plain, m_plain), (v_fold, m_fold) = relus(plain), relus(folded)
    assert m_plain == 0 and v_fold < v_plain and m_fold > 0 and v_fold > 0
    assert folded.cycle_count_per_inference() < plain.cycle_count_per_inference()
    y_fold, y_plain = folded.to_vm().run(x.numpy()), plain.to_vm().run(x.numpy())
    assert np.array_equal(y_fold.view(np.uint32), y_plain.view(np.uint32))
    ok = torch.isfinite(x).all(dim=1) & (x.abs() < 1e30).all(dim=1)
    # the bits are checked above; against torch, check()'s bf16-weight tolerance
    torch.testing.assert_close(torch.from_numpy(y_fold)[ok], expected[ok], atol=2e-2, rtol=1e-2)
