"""`rill report`: the latency analysis, its files and its CLI."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
import torch
import torch.nn as nn
from conftest import CONFIGS, compile_model

import rill
from rill.cli import main as cli_main
from rill.models import GruNet, LstmNet
from rill.report import analyse, table, write_report
from rill.report.analysis import INPUT_LABEL


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(12, 16)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return torch.relu(self.fc(self.lstm(x)[0]))


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(3)
    program, _ = compile_model(Small(), torch.randn(3, 12), CONFIGS["c1b8"], stream_axis=0)
    return program


@pytest.fixture(scope="module")
def seed_lstm():
    torch.manual_seed(0)
    program, _ = compile_model(LstmNet(), torch.randn(3, 128), CONFIGS["ia_840f_c3b64"],
                               stream_axis=0)
    return program


def check_numbers(program, rep):
    cycles = program.cycle_count_per_inference()
    assert rep.cycles == cycles
    assert sum(r.cycles for r in rep.by_op) == cycles
    assert all(r.cycles == r.latency + r.wait and r.wait >= 0 for r in rep.by_op)
    m = program.metrics()
    assert rep.macs == m["mac_ops"]
    assert sum(u["vector"] for u in rep.unit_ops) == m["vector_ops"]
    assert rep.mac_util == pytest.approx(m["mac_ops"] / (program.config.num_cores * cycles))
    assert rep.latency_bound <= cycles and rep.throughput_bound <= cycles
    assert rep.by_op[0].label == INPUT_LABEL and rep.by_op[0].cycles == program.n_in


@pytest.fixture(scope="module")
def gru():
    torch.manual_seed(4)
    program, _ = compile_model(GruNet(24, 40, 2, 8), torch.randn(3, 24),
                               CONFIGS["ia_840f_c3b64"], stream_axis=0)
    return program


def test_critical_path_sums_to_the_cycle_count(small, seed_lstm, gru):
    for program in (small, seed_lstm, gru):
        rep = analyse(program)
        check_numbers(program, rep)
        vm = program.to_vm()
        evs = [vm.events[i] for i in rep.path]
        assert evs[-1].kind == "out" and evs[-1].cycle == program.t_last_out
        # each op reads the one before it after issuing it (a MACC may issue before its
        # accumulator's producer: the charge runs from read to read)
        assert all(p < q for p, q in zip(rep.points, rep.points[1:], strict=False))
        # (a cycle later when the OUT took its operand from the vector forward)
        assert rep.points[-1] - evs[-1].aheads[0] == program.t_last_out


def test_seed_lstm_by_layer(seed_lstm):
    rep = analyse(seed_lstm)
    labels = [r.label for r in rep.by_op]  # in path order: layer 1 needs layer 0's new h
    assert labels[0] == INPUT_LABEL and labels[-2:] == ["linear", "output"]
    assert "lstm layer 1" in labels and set(labels) <= {INPUT_LABEL, "lstm layer 0",
                                                         "lstm layer 1", "linear", "output"}
    if "lstm layer 0" in labels:
        assert labels.index("lstm layer 0") < labels.index("lstm layer 1")
    text = table(rep)
    assert f"{seed_lstm.cycle_count_per_inference()} cycles per inference" in text
    assert "lstm layer 1" in text


def test_without_provenance_ops_are_labelled_by_unit(small):
    rep = analyse(dataclasses.replace(small, debug=None))
    check_numbers(small, rep)
    assert not rep.has_provenance
    assert all(r.label == INPUT_LABEL or r.label.startswith("core ") for r in rep.by_op)


class _Html(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.imgs, self.tables, self.text = [], [], 0, []

    def handle_starttag(self, tag, attrs):
        if tag not in ("meta", "img", "br"):
            self.stack.append(tag)
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])
        self.tables += tag == "table"

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_report_files(tmp_path, small):
    import matplotlib.image

    rep = write_report(small, tmp_path / "r")
    parser = _Html()
    parser.feed((tmp_path / "r" / "index.html").read_text())
    parser.close()
    assert not parser.stack and parser.tables == 3 and parser.imgs == ["latency.png"]
    assert str(small.cycle_count_per_inference()) in "".join(parser.text)
    img = matplotlib.image.imread(tmp_path / "r" / "latency.png")
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 500
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert data["cycles_per_inference"] == small.cycle_count_per_inference() == rep.cycles
    assert sum(r["cycles"] for r in data["critical_path"]) == rep.cycles
    write_report(small, tmp_path / "s", svg=True)
    assert ET.parse(tmp_path / "s" / "latency.svg").getroot().tag.endswith("svg")


def test_cli_report(tmp_path, small, capsys):
    small.save(tmp_path / "p.rill")
    assert cli_main(["report", str(tmp_path / "p.rill"), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "critical path" in out and "MAC array" in out
    assert (tmp_path / "o" / "index.html").exists() and (tmp_path / "o" / "latency.png").exists()
    (tmp_path / "junk.rill").write_bytes(b"not a program")
    for bad in ("junk.rill", "missing.rill"):
        assert cli_main(["report", str(tmp_path / bad), "--out", str(tmp_path / "x")]) == 2
        assert "rill report: error:" in capsys.readouterr().err


def test_report_rtl_measures_the_predicted_cycles(tmp_path, small):
    rep = write_report(small, tmp_path / "r", rtl=True, inferences=2)
    assert rep.rtl_ok and rep.measured == [small.cycle_count_per_inference()] * 2
    assert "measured cycles" in (tmp_path / "r" / "index.html").read_text()
    assert "RTL: measured" in table(rep)


def test_rill_report_runs_without_torch_imported():
    """The report is an app-layer tool but must not pull torch in (as the CLI's other tools)."""
    import subprocess
    import sys

    code = "import sys, rill.report, rill.vm.trace; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    assert rill.Program  # the package itself still imports


def test_schedule_floor_in_the_report(tmp_path):
    """A program from the optimal scheduler records the floor CP-SAT proved (in the saved
    file's debug table too), and the report prints it; a list program says how to get it."""
    torch.manual_seed(0)
    gm, _ = rill.fx.prepare_shape(LstmNet(), torch.randn(3, 128))
    nnir, _ = rill.fx.nnir.to_nnir(gm).streaming_transform(0)
    config = rill.Config.ia_840f_c3b64()
    fast = nnir.to_program(config, scheduler="optimal", effort=10)  # proves 118
    fast.save(tmp_path / "seed.rill")
    loaded = rill.Program.load(tmp_path / "seed.rill")
    assert loaded.debug.schedule == fast.debug.schedule
    rep = analyse(loaded)
    assert (rep.scheduler, rep.floor, rep.floor_proven) == ("optimal", 118, True)
    assert ("schedule floor (the optimal scheduler, CP-SAT): 118 cycles (proven: no schedule "
            "of this model's dataflow graph is faster)") in table(rep)
    assert rep.to_json()["schedule_floor_cycles"] == 118
    listed = analyse(nnir.to_program(config))
    assert listed.scheduler == "list" and listed.floor is None
    assert 'compile with scheduler="optimal" for the proven floor' in table(listed)
