"""The differential fuzzer against the RTL: random models on the small configs, bit- and
cycle-exact against the VM (and the VM against torch), a new seed every run."""

from __future__ import annotations

import os
import random

import pytest

from rill import fuzz

COUNT = 48


def test_fresh_seed_vm_against_rtl(tmp_path):
    env = os.environ.get("RILL_FUZZ_SEED", "").strip()
    seed = int(env) if env else random.SystemRandom().randrange(2**31)
    print(f"rill fuzz seed {seed} (rerun: RILL_FUZZ_SEED={seed})")
    s = fuzz.fuzz(seed=seed, count=COUNT, rtl=True, configs=("c1b8", "c2b16"), out=tmp_path,
                  log=print)
    assert s["passed"] >= 40, fuzz.format_summary(s)
    assert not s["failed"], (f"seed {seed}: {dict(s['failed'])}; shrunk cases: {s['files']} "
                             f"(python -m rill fuzz --replay FILE --rtl)")


@pytest.mark.slow
def test_fresh_seed_rtl_hundreds(tmp_path):
    """The slow mode: 400 models on the RTL, every small config (`pytest -m slow`)."""
    env = os.environ.get("RILL_FUZZ_SEED", "").strip()
    seed = int(env) if env else random.SystemRandom().randrange(2**31)
    print(f"rill fuzz seed {seed} (rerun: RILL_FUZZ_SEED={seed})")
    s = fuzz.fuzz(seed=seed, count=400, rtl=True, out=tmp_path, log=print)
    assert not s["failed"], f"seed {seed}: {dict(s['failed'])}; shrunk cases: {s['files']}"
