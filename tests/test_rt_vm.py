"""rill.rt on the VM backend (no simulator): the same results, cycles and typed errors as the
VM itself; the channel's framing. The RTL backend: cosim/test_rt.py."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest
import torch

import rill
import rill.rt
from rill.models import LstmNet
from rill.rt import protocol


class TwoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(6, 4), torch.nn.Linear(3, 4)

    def forward(self, x, y):
        return torch.tanh(self.a(x)) + self.b(y), self.a(x)


@pytest.fixture(scope="module")
def lstm() -> rill.Program:
    torch.manual_seed(7)
    gm, _ = rill.fx.prepare_shape(LstmNet(10, 20, 1, 5), torch.randn(30, 10))
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    return nnir.to_program(rill.Config.c1b8(), name="lstm_stream")


def steps(n: int = 12, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 10)).astype(np.float32)


def test_same_as_the_vm(lstm):
    xs = steps()
    ref = lstm.to_vm().run_timesteps(xs)
    with rill.rt.open(lstm) as rt:
        assert rt.backend == "vm" and rt.program is lstm and rt.last_cycles is None
        ys = np.stack([rt.run(x) for x in xs])
        assert ys.dtype == np.float32 and np.array_equal(ys, ref)
        assert rt.cycles == [lstm.cycle_count_per_inference()] * len(xs)
        assert rt.last_cycles == lstm.cycle_count_per_inference()
        rt.reset()
        assert np.array_equal(rt.run_timesteps(xs), ref)
        rt.reset()
        assert np.array_equal(rt.run_timesteps(xs.T, axis=1), ref.T)  # like VM's axis
        rt.reset()
        beats = [lstm.input_beats(x) for x in xs[:3]]
        vm = lstm.to_vm()
        assert all(np.array_equal(rt.run_beats(b), vm.run_beats(b)) for b in beats)
        assert len(rt.cycles) == 3 * len(xs) + 3
    assert rt.closed


def test_state_carried_and_reset(lstm):
    xs = steps(6)
    with rill.rt.open(lstm, backend="vm") as rt:
        streamed = [rt.run(x) for x in xs]
        fresh = []
        for x in xs:
            rt.reset()
            fresh.append(rt.run(x))
        assert np.array_equal(streamed[0], fresh[0])
        assert not any(np.array_equal(a, b) for a, b in zip(streamed[1:], fresh[1:],
                                                            strict=True))
        rt.reset(model_index=0)
        assert np.array_equal(np.stack([rt.run(x) for x in xs]), np.stack(streamed))


def test_several_inputs_and_outputs():
    torch.manual_seed(2)
    x, y = torch.randn(6), torch.randn(3)
    gm, _ = rill.fx.prepare_shape(TwoInputs(), x, y)
    program = rill.fx.nnir.to_nnir(gm).to_program(rill.Config.c1b8(), name="two")
    ref = program.to_vm().run(x.numpy(), y.numpy())
    with rill.rt.open(program) as rt:
        for got in (rt.run(x.numpy(), y.numpy()), rt.run((x.numpy(), y.numpy()))):
            assert isinstance(got, tuple) and len(got) == 2
            assert all(np.array_equal(a, b) for a, b in zip(got, ref, strict=True))


def _vm_error(fn):
    with pytest.raises(rill.VMInputError) as e:
        fn()
    return str(e.value)


def test_bad_input_gives_the_vms_errors(lstm):
    vm = lstm.to_vm()
    x = steps(1)[0]
    bad = {"shape": np.zeros(11, np.float32), "dtype": np.zeros(10, np.int32),
           "not an array": "text", "sequence": steps(4)}
    with rill.rt.open(lstm) as rt:
        for name, b in bad.items():
            assert _vm_error(lambda b=b: rt.run(b)) == _vm_error(lambda b=b: vm.run(b)), name
        for b, axis in ((steps(4), 2), (steps(4), True), (np.zeros((0, 10), np.float32), 0),
                        (np.zeros((3, 10), np.int64), 0)):
            assert _vm_error(lambda b=b, a=axis: rt.run_timesteps(b, a)) == \
                _vm_error(lambda b=b, a=axis: vm.run_timesteps(b, a))
        raw = lstm.input_beats(x)
        for b in (raw.astype(np.int32), raw[:, :4]):
            assert _vm_error(lambda b=b: rt.run_beats(b)) == \
                _vm_error(lambda b=b: vm.run_beats(b))
        assert "only one model" in _vm_error(lambda: rt.run(x, model_index=1))
        assert "only one model" in _vm_error(lambda: rt.reset(model_index=1))
        for k in (-1, True, "0", 0.0):
            _vm_error(lambda k=k: rt.run(x, model_index=k))
        with pytest.raises(rill.VMInputError, match="takes one input, got 2"):
            rt.run(x, x)
        assert rt.cycles == []  # nothing ran
        assert np.array_equal(rt.run(x), vm.run(x))


def test_open_and_close(lstm, tmp_path):
    lstm.save(tmp_path / "p.rill")
    rt = rill.rt.open(str(tmp_path / "p.rill"))
    assert rt.program.save_bytes() == lstm.save_bytes()
    rt.close()
    rt.close()  # harmless
    with pytest.raises(rill.rt.RuntimeClosedError):
        rt.run(steps(1)[0])
    with pytest.raises(rill.rt.RuntimeClosedError):
        rt.reset()
    with pytest.raises(ValueError, match="backend='fpga'"):
        rill.rt.open(lstm, backend="fpga")
    with pytest.raises(TypeError, match="takes no options"):
        rill.rt.open(lstm, backend="vm", check=True)
    with pytest.raises(TypeError, match="rill.Program"):
        rill.rt.open(object())
    assert rill.rt is rill.__getattr__("rt")


def test_protocol_framing():
    a, b = socket.socketpair()
    with a, b:
        beats = np.arange(24, dtype=np.uint16).reshape(3, 8) * 2731
        protocol.send(a, {"op": "infer", "k": 7}, protocol.beats_bytes(beats))
        protocol.send(a, {"op": "status"})
        header, payload = protocol.recv(b, timeout=5.0)
        assert header == {"op": "infer", "k": 7}
        assert np.array_equal(protocol.bytes_beats(payload, 8), beats)
        assert protocol.recv(b) == ({"op": "status"}, b"")
        with pytest.raises(protocol.ChannelTimeout):
            protocol.recv(b, timeout=0.2)
        with pytest.raises(protocol.ChannelClosed, match="exited"):
            protocol.recv(b, timeout=5.0, alive=lambda: False)
        # a large payload arrives whole, in pieces
        big = np.random.default_rng(0).integers(0, 1 << 16, (4096, 64)).astype(np.uint16)
        t = threading.Thread(target=protocol.send, args=(a, {"op": "x"},
                                                         protocol.beats_bytes(big)))
        t.start()
        header, payload = protocol.recv(b, timeout=10.0)
        t.join()
        assert np.array_equal(protocol.bytes_beats(payload, 64), big)
        a.close()
        with pytest.raises(protocol.ChannelClosed):
            protocol.recv(b, timeout=1.0)
