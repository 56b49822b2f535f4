"""1-D convolutions, streaming (PaddedConv1d, causal) and not, against torch float32."""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from conftest import CONFIGS, compile_model

import rill

TOL = dict(atol=5e-3, rtol=1e-2)


def close(y: np.ndarray, expected: torch.Tensor) -> None:
    torch.testing.assert_close(torch.from_numpy(np.asarray(y)), expected.float(), **TOL)


class Net(nn.Module):
    def __init__(self, *convs, act=True):
        super().__init__()
        self.convs = nn.ModuleList(convs)
        self.act = act

    def forward(self, x):
        for c in self.convs:
            x = c(x)
            if self.act:
                x = torch.relu(x)
        return x


class CNN(nn.Module):  # the commercial SDK's example-2 model
    def __init__(self):
        super().__init__()
        self.conv1 = rill.nn.PaddedConv1d(32, 128, 3)
        self.conv2 = rill.nn.PaddedConv1d(128, 1, 3)

    def forward(self, x):
        return F.relu(self.conv2(F.relu(self.conv1(x))))


# non-streaming ----------------------------------------------------------------------------------
PLAIN = [  # (c_in, c_out, k, dilation, padding, groups, bias, cfg, batched)
    (8, 8, 3, 1, 1, 1, True, "c1b8", True),  # block multiples
    (5, 11, 1, 1, 0, 1, True, "c1b8", True),
    (13, 7, 2, 3, "same", 1, False, "c1b8", False),
    (6, 9, 4, 2, "valid", 1, True, "c2b16", True),
    (16, 32, 5, 1, "same", 1, True, "c2b16", False),
    (20, 17, 7, 1, 3, 1, True, "c2b16", True),
    (7, 5, 6, 4, 3, 1, False, "c1b8", True),  # 15 + 6 - 20: one output
    (12, 12, 3, 2, 2, 12, True, "c1b8", True),  # depthwise
    (10, 20, 5, 1, "same", 10, False, "c2b16", False),  # depthwise, channel multiplier 2
    (12, 18, 3, 1, 1, 3, True, "c1b8", True),  # groups=3
    (33, 33, 4, 3, 0, 33, True, "c2b16", True),  # depthwise over three blocks
]


@pytest.mark.parametrize("c_in, c_out, k, dil, pad, groups, bias, cfg, batched", PLAIN)
def test_conv1d_sequence(c_in, c_out, k, dil, pad, groups, bias, cfg, batched):
    model = nn.Conv1d(c_in, c_out, k, padding=pad, dilation=dil, groups=groups, bias=bias)
    x = torch.randn((1, c_in, 15) if batched else (c_in, 15))
    program, expected = compile_model(model, x, CONFIGS[cfg])
    assert program.model_input_shape() == tuple(x.shape)
    assert program.model_output_shape() == tuple(expected.shape)
    close(program.to_vm().run(x.numpy()), expected)


def test_functional_conv1d_and_stack():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(9, 6, 3) * 0.3)
            self.b = nn.Parameter(torch.randn(9))
            self.c2 = nn.Conv1d(9, 4, 2, padding=1, bias=False)

        def forward(self, x):
            y = torch.tanh(F.conv1d(x, self.w, self.b, padding=2, dilation=2))
            return self.c2(y) * 0.5 + 1.0

    x = torch.randn(1, 6, 11)
    program, expected = compile_model(M(), x, CONFIGS["c1b8"])
    close(program.to_vm().run(x.numpy()), expected)


def test_batch_of_sequences():
    model = Net(nn.Conv1d(4, 6, 3, padding=1), nn.Conv1d(6, 3, 2))
    x = torch.randn(3, 4, 9)
    program, expected = compile_model(model, x, CONFIGS["c1b8"])
    close(program.to_vm().run(x.numpy()), expected)


def test_transposes_and_linear_head():
    """(1, L, C) in, a conv between transposes, a Linear over channels: no data moves."""

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = rill.nn.PaddedConv1d(10, 12, 3, dilation=2)
            self.fc = nn.Linear(12, 5)
            self.k = nn.Parameter(torch.randn(12, 1))

        def forward(self, x):  # x: (1, L, C)
            y = torch.relu(self.conv(x.transpose(1, 2)) + self.k)
            return self.fc(y.permute(0, 2, 1))

    x, model = torch.randn(1, 21, 10), M()
    program, expected = compile_model(model, x, CONFIGS["c2b16"])
    close(program.to_vm().run(x.numpy()), expected)
    sprog, _ = compile_model(model, x, CONFIGS["c2b16"], stream_axis=1)
    close(sprog.to_vm().run_timesteps(x.numpy(), axis=1), expected)


def test_output_channels_first_and_save_load(tmp_path):
    model = Net(nn.Conv1d(5, 7, 3, padding="same"))
    x = torch.randn(1, 5, 6)
    program, expected = compile_model(model, x, CONFIGS["c1b8"])
    assert program.input_channels_first and program.output_channels_first
    program.save(tmp_path / "c.rill")
    loaded = rill.Program.load(tmp_path / "c.rill")
    assert loaded.input_channels_first and loaded.output_channels_first
    y = loaded.to_vm().run(x.numpy())
    assert y.shape == (1, 7, 6)
    assert np.array_equal(y, program.to_vm().run(x.numpy()))
    close(y, expected)


# streaming --------------------------------------------------------------------------------------
STREAM = [  # (c_in, c_out, k, dilation, groups, bias, cfg)
    (8, 8, 3, 1, 1, True, "c1b8"),
    (5, 3, 1, 1, 1, True, "c1b8"),
    (13, 21, 2, 4, 1, False, "c1b8"),
    (16, 16, 4, 2, 16, True, "c2b16"),  # depthwise, dilated: copies between the taps
    (20, 35, 7, 1, 1, True, "c2b16"),
    (9, 18, 5, 3, 9, True, "c1b8"),  # depthwise, channel multiplier 2
    (32, 24, 6, 2, 4, False, "c2b16"),
]


@pytest.mark.parametrize("c_in, c_out, k, dil, groups, bias, cfg", STREAM)
def test_padded_conv_streaming_carries_state_and_resets(c_in, c_out, k, dil, groups, bias, cfg):
    model = Net(rill.nn.PaddedConv1d(c_in, c_out, k, dilation=dil, groups=groups, bias=bias),
                rill.nn.PaddedConv1d(c_out, 4, 2, dilation=1))
    x = torch.randn(1, c_in, 24)
    program, expected = compile_model(model, x, CONFIGS[cfg], stream_axis=2)
    assert program.model_input_shape() == (1, c_in) and program.model_output_shape() == (1, 4)
    assert program.model_input_streaming_dim() == 2
    vm = program.to_vm()
    first = np.stack([vm.run(x[:, :, t].numpy()) for t in range(24)], axis=2)
    close(first, expected)
    vm.run(x[:, :, 0].numpy())
    vm.reset()
    replay = vm.run_timesteps(x.numpy(), axis=2)
    assert np.array_equal(replay, first)  # bit-identical after reset
    # the whole-sequence program accumulates in the same order: the same bits (10 steps: a
    # causal conv's first outputs see only the first inputs; 24 need more than c1b8's registers)
    seq, _ = compile_model(model, x[:, :, :10], CONFIGS[cfg])
    assert np.array_equal(seq.to_vm().run(x[:, :, :10].numpy()), first[:, :, :10])


def test_state_carries_over():
    model = Net(rill.nn.PaddedConv1d(4, 4, 3))
    x = torch.randn(1, 4, 3)
    program, _ = compile_model(model, x, CONFIGS["c1b8"], stream_axis=2)
    vm = program.to_vm()
    a = [vm.run(x[:, :, t].numpy()) for t in range(3)]
    b = vm.run(x[:, :, 0].numpy())
    assert not np.array_equal(a[0], b)  # history from the previous steps


def test_plain_conv_padding_zero_streams_causally():
    """Streamed, a Conv1d with padding=0 gives the causal conv: from step (k-1)*d on, torch's
    (shorter) output; before it, the output over zero history."""
    k, d = 3, 2
    conv = nn.Conv1d(6, 5, k, dilation=d)
    x = torch.randn(1, 6, 20)
    program, expected = compile_model(conv, x, CONFIGS["c1b8"], stream_axis=2)
    y = program.to_vm().run_timesteps(x.numpy(), axis=2)
    assert y.shape == (1, 5, 20) and expected.shape == (1, 5, 20 - (k - 1) * d)
    close(y[:, :, (k - 1) * d:], expected)
    padded = F.conv1d(F.pad(x, ((k - 1) * d, 0)), conv.weight, conv.bias, dilation=d)
    close(y, padded.detach())


def test_unbatched_streaming():
    model = Net(rill.nn.PaddedConv1d(6, 10, 3), nn.Conv1d(10, 3, 1))
    x = torch.randn(6, 22)
    program, expected = compile_model(model, x, CONFIGS["c1b8"], stream_axis=1)
    assert program.model_input_shape() == (6,)
    close(program.to_vm().run_timesteps(x.numpy(), axis=1), expected)


def test_example_2_cnn():
    x = torch.randn(1, 32, 5)
    (model, expected) = rill.fx.prepare_shape(CNN(), x)
    (nnir, out_axis) = rill.fx.nnir.to_nnir(model).streaming_transform(2)
    assert out_axis == 2
    program = nnir.to_program(rill.Config.ia_840f_c3b64())
    vm = program.to_vm()
    ys = [vm.run(x[:, :, t].numpy()) for t in range(5)]
    close(np.stack(ys, axis=out_axis), expected)
    assert program.cycle_count_per_inference() <= 55  # the commercial VM: 111


# errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("conv, what", [
    (lambda: nn.Conv1d(4, 4, 3, stride=2), "stride=2"),
    (lambda: nn.Conv1d(4, 4, 3, padding=1, padding_mode="reflect"), "padding_mode='reflect'"),
    (lambda: nn.Conv1d(4, 4, 3, padding=1, padding_mode="circular"), "padding_mode"),
])
def test_unsupported_options(conv, what):
    gm, _ = rill.fx.prepare_shape(Net(conv()), torch.randn(1, 4, 9))
    with pytest.raises(rill.UnsupportedError, match=what) as e:
        rill.fx.nnir.to_nnir(gm)
    assert "test_conv.py" in str(e.value)  # the model's source line


@pytest.mark.parametrize("pad", [1, "same"])
def test_streaming_needs_causal_padding(pad):
    gm, _ = rill.fx.prepare_shape(Net(nn.Conv1d(4, 4, 3, padding=pad)), torch.randn(1, 4, 9))
    nnir = rill.fx.nnir.to_nnir(gm)
    with pytest.raises(rill.UnsupportedError, match=r"conv1d.*test_conv.py.*causal"):
        nnir.streaming_transform(2)
    nnir.to_program(CONFIGS["c1b8"])  # fine without streaming


def test_streaming_the_channel_axis_is_refused():
    gm, _ = rill.fx.prepare_shape(Net(rill.nn.PaddedConv1d(4, 4, 3)), torch.randn(1, 4, 9))
    with pytest.raises(rill.NNIRError, match="channel axis"):
        rill.fx.nnir.to_nnir(gm).streaming_transform(1)


def test_linear_over_time_is_refused():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = rill.nn.PaddedConv1d(4, 4, 3)
            self.fc = nn.Linear(9, 2)

        def forward(self, x):
            return self.fc(self.conv(x))

    gm, _ = rill.fx.prepare_shape(M(), torch.randn(1, 4, 9))
    with pytest.raises(rill.UnsupportedError, match=r"Linear.*time axis.*test_conv.py"):
        rill.fx.nnir.to_nnir(gm)


def test_nonfinite_weight_is_refused():
    conv = nn.Conv1d(3, 3, 2)
    with torch.no_grad():
        conv.weight[1, 2, 1] = float("nan")
    gm, _ = rill.fx.prepare_shape(Net(conv), torch.randn(1, 3, 5))
    with pytest.raises(rill.ModelError, match=r"weight\[1, 2, 1\]"):
        rill.fx.nnir.to_nnir(gm).to_program(CONFIGS["c1b8"])


def test_edited_layout_flag_is_refused():
    import dataclasses

    program, _ = compile_model(Net(nn.Conv1d(5, 7, 3)), torch.randn(1, 5, 6), CONFIGS["c1b8"])
    bad = dataclasses.replace(program, output_channels_first=False)
    with pytest.raises(rill.InvalidProgramError, match="output_shape"):
        rill.Program.load_bytes(bad.save_bytes())
