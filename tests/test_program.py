"""Program file format, VM input checks, and every error path a user can hit."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import CONFIGS, compile_model

import rill
from rill.hw import isa


@pytest.fixture
def mlp_program():
    model = nn.Sequential(nn.Linear(30, 40), nn.Tanh(), nn.Linear(40, 7))
    x = torch.randn(2, 30)
    program, _ = compile_model(model, x, CONFIGS["c2b16"])
    return program, x.numpy()


def test_save_load_round_trip(tmp_path, mlp_program):
    program, x = mlp_program
    program.save(tmp_path / "p.rill")
    loaded = rill.Program.load(tmp_path / "p.rill")
    assert loaded.save_bytes() == program.save_bytes()
    assert np.array_equal(loaded.to_vm().run(x), program.to_vm().run(x))
    assert rill.Program.load_bytes(program.save_bytes()).length == program.length


def test_corrupt_and_truncated_files_raise_load_error(tmp_path, mlp_program):
    program, _ = mlp_program
    data = bytearray(program.save_bytes())
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    for bad, what in [(bytes(flipped), "checksum"), (bytes(data[:-100]), "checksum"),
                      (b"RILX" + bytes(data[4:]), "magic"), (b"", "magic")]:
        with pytest.raises(rill.LoadError, match=what):
            rill.Program.load_bytes(bad)
    with pytest.raises(rill.LoadError, match="cannot read"):
        rill.Program.load(tmp_path / "missing.rill")


def test_save_to_unwritable_place_raises_save_error(tmp_path, mlp_program):
    program, _ = mlp_program
    with pytest.raises(rill.SaveError):
        program.save(tmp_path / "no_such_dir" / "p.rill")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_vm_rejects_wrong_shape_and_dtype(mlp_program):
    program, x = mlp_program
    vm = program.to_vm()
    with pytest.raises(rill.VMInputError, match=r"\(2, 31\).*\(2, 30\)"):
        vm.run(np.zeros((2, 31), np.float32))
    with pytest.raises(rill.VMInputError, match="dtype"):
        vm.run(x.astype(np.int32))
    with pytest.raises(rill.VMInputError, match="uint16"):
        vm.run_beats(np.zeros((program.n_in, 16), np.float32))


def test_model_too_big_raises_allocation_error_with_sizes():
    model = nn.Linear(512, 512)
    with pytest.raises(rill.AllocationError, match=r"1024 weight blocks.*holds 256 blocks"):
        compile_model(model, torch.randn(512), CONFIGS["c2b16"])


def test_too_many_output_beats_raises_allocation_error():
    config = dataclasses.replace(CONFIGS["c2b16"], out_fifo_depth=4)
    with pytest.raises(rill.AllocationError, match="output FIFO holds 4"):
        compile_model(nn.Linear(16, 16), torch.randn(5, 16), config)


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.ConvTranspose1d(4, 4, 3, padding=2)  # (4, 10) -> (4, 8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        y = self.conv(x)
        y = torch.sinh(y) + torch.sinh(y)
        return self.fc(y.cumsum(-1))


def test_unsupported_ops_are_all_listed_with_counts_and_lines():
    gm, _ = rill.fx.prepare_shape(Unsupported(), torch.randn(4, 10))
    with pytest.raises(rill.UnsupportedError) as info:
        rill.fx.nnir.to_nnir(gm)
    msg = str(info.value)
    assert "module ConvTranspose1d: not supported: 1x" in msg
    assert "function sinh: not supported: 2x" in msg
    assert "method .cumsum(): not supported: 1x" in msg
    assert "test_program.py:" in msg and "torch.sinh(y)" in msg


def test_lstm_state_output_is_unsupported():
    class UsesState(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 4)

        def forward(self, x):
            _, (h, c) = self.lstm(x)
            return h

    gm, _ = rill.fx.prepare_shape(UsesState(), torch.randn(3, 4))
    with pytest.raises(rill.UnsupportedError, match=r"\(h, c\) output is used"):
        rill.fx.nnir.to_nnir(gm)


def test_streaming_axis_errors():
    gm, _ = rill.fx.prepare_shape(nn.Linear(4, 4), torch.randn(3, 4))
    nnir = rill.fx.nnir.to_nnir(gm)
    with pytest.raises(rill.NNIRError, match="feature axis"):
        nnir.streaming_transform(1)
    streamed, axis = nnir.streaming_transform(0)
    assert axis == 0 and streamed.to_program(CONFIGS["c1b8"]).model_input_shape() == (4,)
    with pytest.raises(rill.NNIRError, match="already streaming"):
        streamed.streaming_transform(0)


def test_config_errors_and_json_round_trip(tmp_path):
    with pytest.raises(rill.ConfigError, match="block_size=48"):
        rill.Config(num_cores=2, block_size=48)
    with pytest.raises(rill.ConfigError, match="num_cores"):
        rill.Config(num_cores=0, block_size=16)
    c = rill.Config.ia_420f_c6b32()
    assert (c.num_cores, c.block_size, c.clock_mhz) == (6, 32, 320.0)
    assert c.num_cores * c.weights_per_core == 6 * 512 * 32 * 32
    c.save(tmp_path / "c.json")
    assert rill.Config.load(tmp_path / "c.json") == c


def test_illegal_bundles_raise_program_error(mlp_program):
    program, _ = mlp_program
    c = program.config
    bad = [isa.Bundle(m_op=3)] + [isa.Bundle()] * (program.length - 1)
    broken = dataclasses.replace(program, bundles=[isa.encode(bad, c)] + program.bundles[1:])
    with pytest.raises(rill.ProgramError, match="illegal matrix opcode 3"):
        broken.to_vm()
    bank = c.num_banks  # a bank that does not exist
    bad = [isa.Bundle(v_op=int(isa.VOp.RELU), v_a=isa.make_addr(bank, 0, c))]
    bad += [isa.Bundle()] * (program.length - 1)
    broken = dataclasses.replace(program, bundles=[isa.encode(bad, c)] + program.bundles[1:])
    with pytest.raises(rill.ProgramError, match="bank 6"):
        broken.to_vm()


def test_register_reads_are_write_first():
    """A read issued in the cycle of the write edge sees the new value; one cycle earlier, the
    old (docs/isa.md). Here: RELU of input beat 0, OUT one cycle early and OUT on the edge."""
    c = CONFIGS["c1b8"]
    t = isa.Timing.of(c)
    v0 = isa.make_addr(isa.vector_bank(0), 0, c)
    edge = t.relu - 1  # RELU issued at 0 writes at the edge ending this cycle
    bundles = [isa.Bundle(v_op=int(isa.VOp.RELU), v_a=isa.make_addr(isa.BANK_INPUT, 0, c))]
    bundles += [isa.Bundle()] * (edge - 2)
    bundles += [isa.Bundle(v_op=int(isa.VOp.OUT), v_a=v0)] * 2  # cycles edge-1 and edge
    bundles += [isa.Bundle()] * 3
    program = rill.Program(c, len(bundles), 1, 2, [isa.encode(bundles, c)],
                           [np.zeros((0, 8, 8), np.uint16)], np.zeros((0, 8), np.uint32),
                           (8,), (2, 8), t_last_out=edge)
    x = np.arange(-4, 4, dtype=np.float32)
    y = program.to_vm().run(x)
    assert np.array_equal(y[0], np.zeros(8)) and np.array_equal(y[1], np.maximum(x, 0))


def test_encode_decode_round_trip_and_field_overflow():
    c = CONFIGS["c3b16"]
    rng = np.random.default_rng(0)
    bundles = []
    for _ in range(200):
        vals = {name: int(rng.integers(0, 1 << w)) for name, w in isa.fields(c)}
        bundles.append(isa.Bundle(**vals))
    assert isa.decode(isa.encode(bundles, c), c) == bundles
    with pytest.raises(rill.ProgramError, match="m_w"):
        isa.encode([isa.Bundle(m_w=1 << c.waddr_bits)], c)


def test_metrics(mlp_program):
    program, _ = mlp_program
    m = program.metrics()
    assert m["mac_ops"] == 2 * (2 * 3 + 1 * 3)  # two rows; 30->40 is 2x3 blocks, 40->7 1x3
    assert m["input_beats"] == 4 and m["output_beats"] == 2
