"""The differential fuzzer (`rill fuzz`): a fast run, the shrinker, replay, the checker."""

import json

import numpy as np
import pytest

from rill import fuzz
from rill.fuzz import check, gen


def test_fast_run_has_no_untyped_exceptions(capsys):
    s = fuzz.fuzz(seed=1, count=20, log=lambda *_: None)
    assert s["cases"] == 20
    assert not s["failed"], s["failed"]
    assert s["passed"] >= 10
    print(fuzz.format_summary(s))
    assert "cases" in capsys.readouterr().out


def test_cases_are_reproducible_from_seed_and_index():
    assert fuzz.generate_case(5, 3) == fuzz.generate_case(5, 3)
    assert fuzz.generate_case(5, 3) != fuzz.generate_case(5, 4)
    d = fuzz.generate_case(5, 3)
    assert json.loads(json.dumps(d)) == d  # a description is plain JSON


def test_generator_covers_every_op():
    ops, forms, streams = set(), set(), set()
    for i in range(200):
        d = fuzz.generate_case(11, i)
        streams.add(d["stream"])
        for n in d["nodes"]:
            ops.add(n["op"])
            forms.add((n["op"], n.get("fn"), n.get("form")))
    assert ops == {"input", *gen.OPS}
    assert streams == {True, False}
    assert {("act", fn, f) for fn in ("relu", "sigmoid", "tanh")
            for f in ("module", "function", "method")} <= forms


def _has_sigmoid(d):
    return any(n["op"] == "act" and n["fn"] == "sigmoid" for n in d["nodes"])


def test_shrinker_reduces_to_a_minimal_model():
    big = {"config": "c3b16", "seed": 1, "rows": 5, "in": 33, "stream": True, "wmode": "big",
           "specials": ["nan", "inf"], "nodes": [
               {"op": "input"},
               {"op": "linear", "src": 0, "out": 17, "bias": True, "form": "function"},
               {"op": "act", "src": 1, "fn": "tanh", "form": "method"},
               {"op": "lstm", "src": 2, "hidden": 9, "layers": 3, "bias": True},
               {"op": "act", "src": 3, "fn": "sigmoid", "form": "function"},
               {"op": "bin", "fn": "add", "a": 4, "b": 3},
               {"op": "linear", "src": 5, "out": 4, "bias": True, "form": "module"}]}
    small = fuzz.shrink(big, _has_sigmoid, budget=1000)
    assert small["nodes"] == [{"op": "input"},
                              {"op": "act", "src": 0, "fn": "sigmoid", "form": "module"}]
    assert small["in"] == 1 and small["rows"] == 1 and not small["specials"]
    assert (small["config"], small["wmode"], small["stream"]) == ("c1b8", "normal", False)
    assert fuzz.run_case(small).status == "pass"  # the shrunk model still builds and runs


def test_replay_reproduces_a_saved_case(tmp_path):
    desc = fuzz.generate_case(1, 0)
    first = fuzz.run_case(desc)
    path = fuzz.save_case(tmp_path, 1, 0, first, desc, desc)
    again = fuzz.replay(path)
    assert (again.status, again.category) == (first.status, first.category)
    assert fuzz.main(["--replay", str(path)]) == (1 if first.status == "fail" else 0)


def test_inf_input_to_an_lstm_off_the_block_size_passes():
    """An inf input to a streaming LSTM whose hidden size is off the block size: its padded
    lanes gave NaN in every real lane until zero-weight lanes were dropped (issue 8, 13)."""
    d = {"config": "c1b8", "seed": 3, "rows": 4, "in": 5, "stream": True, "wmode": "normal",
         "specials": ["inf"], "nodes": [
             {"op": "input"}, {"op": "lstm", "src": 0, "hidden": 5, "layers": 1, "bias": True},
             {"op": "linear", "src": 1, "out": 3, "bias": True, "form": "module"}]}
    o = fuzz.run_case(d)
    assert o.status == "pass", o


def test_checker_flags_a_wrong_vm_value():
    desc = {"config": "c1b8", "seed": 2, "rows": 2, "in": 8, "stream": False, "wmode": "normal",
            "specials": [], "nodes": [
                {"op": "input"},
                {"op": "linear", "src": 0, "out": 8, "bias": True, "form": "module"}]}
    model, x = gen.FuzzNet(desc), gen.make_input(desc)
    ref = check.reference(model, x.numpy())
    y = model(x).detach().numpy()
    assert check.compare(desc, y, y, ref) is None
    wrong = y.copy()
    wrong[0, 0] = wrong[0, 0] * 1.5 + 1
    assert check.compare(desc, wrong, y, ref).category == "numeric"
    wrong[0, 0] = np.nan
    assert check.compare(desc, wrong, y, ref).category == "numeric"  # 8 is a multiple of B


def test_cli_is_registered(capsys):
    from rill import cli

    assert cli.main(["fuzz", "--seed", "3", "--count", "2"]) == 0
    assert "seed 3" in capsys.readouterr().out


def test_empty_and_torch_refused_models_are_not_failures():
    base = {"config": "c1b8", "seed": 1, "rows": 0, "in": 4, "stream": False, "wmode": "normal",
            "specials": ["nan"], "nodes": [{"op": "input"},
                                           {"op": "linear", "src": 0, "out": 3, "bias": True,
                                            "form": "module"}]}
    assert fuzz.run_case(base).status == "rejected"  # rill's typed error for an empty input
    lstm = {**base, "nodes": [{"op": "input"},
                              {"op": "lstm", "src": 0, "hidden": 3, "layers": 1, "bias": True}]}
    assert fuzz.run_case(lstm).category.startswith("torch:")  # torch refuses an empty sequence


def fresh_seed() -> int:
    """RILL_FUZZ_SEED, or a fresh seed for every run (printed, and in a failure's message)."""
    import os
    import random

    env = os.environ.get("RILL_FUZZ_SEED", "").strip()
    seed = int(env) if env else random.SystemRandom().randrange(2**31)
    print(f"rill fuzz seed {seed} (rerun: RILL_FUZZ_SEED={seed})")
    return seed


def test_fresh_seed_vm_against_torch(tmp_path):
    """The regression's fuzz run: 250 random models, VM against torch (and streaming against
    sequence bits), a new seed every run; failures are shrunk and saved for --replay."""
    seed = fresh_seed()
    s = fuzz.fuzz(seed=seed, count=250, out=tmp_path, log=print)
    assert s["cases"] == 250 and s["passed"] >= 200, fuzz.format_summary(s)
    assert not s["failed"], (f"seed {seed}: {dict(s['failed'])}; shrunk cases: {s['files']} "
                             f"(python -m rill fuzz --replay FILE)")


@pytest.mark.slow
def test_fresh_seed_thousands(tmp_path):
    """The slow mode: 3,000 models VM against torch (`pytest -m slow tests/test_fuzz.py`)."""
    seed = fresh_seed()
    s = fuzz.fuzz(seed=seed, count=3000, out=tmp_path, log=print)
    assert not s["failed"], (f"seed {seed}: {dict(s['failed'])}; shrunk cases: {s['files']}")
