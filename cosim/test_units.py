"""Unit cosim regression: each RTL arithmetic unit against numerics.py, bit for bit.

Vector counts: env RILL_COSIM_VECTORS (default per bench, >= 100k for the scalar units).
"""

from __future__ import annotations

import json

import pytest

from rill.cosim.verilator import build, run_test
from rill.hw import manifest


def test_fp32_add():
    b = build("rill_fp32_add", manifest.names("rill_fp32_add"))
    run_test(b, "tb_units", testcase="fp32_add_random")




def test_fp32_mul():
    b = build("rill_fp32_mul", manifest.names("rill_fp32_mul"))
    run_test(b, "tb_units", testcase="fp32_mul_random")


def test_act():
    b = build("rill_act", manifest.names("rill_act"))
    run_test(b, "tb_units", testcase="act_random")


def test_fn():
    """RECIP, RSQRT, EXP2, LOG2: >= 150k vectors each (900k cycles, a random mix; LOG2
    blocks some shorter ops, which would leave in its cycle)."""
    b = build("rill_fn", manifest.names("rill_fn"))
    run_test(b, "tb_units", testcase="fn_random")


def params(**kw) -> dict[str, str]:
    return {"RILL_PARAMS": json.dumps(kw)}


@pytest.mark.parametrize("B,N", [(8, 150_000), (16, 100_000), (32, 5_000), (64, 20_000)])
def test_dot_row(B, N):
    b = build("rill_dot_row", manifest.names("rill_dot_row"), parameters={"B": B})
    run_test(b, "tb_units", testcase="dot_row_random", extra_env=params(B=B, N=N))


@pytest.mark.parametrize("B,N", [(8, 100_000)])
def test_matrix_unit(B, N):
    b = build("rill_matrix_unit", manifest.names("rill_matrix_unit"), parameters={"B": B})
    run_test(b, "tb_units", testcase="matrix_unit_random", extra_env=params(B=B, N=N))


# The mixes: every op alike; the lanewise compare/select ops of v3 (GT, GE, KEEP, DROP, OR:
# >= 150k lanes each); RMAX alone (>= 150k rows). RECIP/RSQRT/EXP2/LOG2 and PHI have their
# own unit benches (test_fn, test_act) with >= 150k vectors each.
# (KEEP/DROP/OR weighted up: a GT/GE in the cycle before takes their write-back slot)
SELECT_OPS = {"GT": 1, "GE": 1, "KEEP": 1.5, "DROP": 1.5, "OR": 1.5}


@pytest.mark.parametrize("B,N,weights", [
    (8, 150_000, None), (8, 160_000, SELECT_OPS), (8, 150_000, {"RMAX": 1}),
    pytest.param(16, 100_000, None, marks=pytest.mark.slow),  # a deeper RMAX tree
], ids=["all", "select", "rmax", "all-b16"])
def test_vector_unit(B, N, weights):
    b = build("rill_vector_unit", manifest.names("rill_vector_unit"),
              parameters={"B": B, "IDX_BITS": 6})
    extra = {"WEIGHTS": weights, "SEED": 100} if weights else {}
    run_test(b, "tb_units", testcase="vector_unit_random",
             extra_env=params(B=B, IDX_BITS=6, N=N, **extra))


def test_vector_unit_collision_asserts():
    b = build("rill_vector_unit", manifest.names("rill_vector_unit"),
              parameters={"B": 8, "IDX_BITS": 6})
    with pytest.raises((SystemExit, RuntimeError)):
        run_test(b, "tb_units", testcase="vector_unit_collision",
                 extra_env=params(B=8, IDX_BITS=6))


MILLION = {  # unit -> (build parameters, bench testcase, bench params)
    "rill_fp32_add": ({}, "fp32_add_random", {}),
    "rill_fp32_mul": ({}, "fp32_mul_random", {}),
    "rill_act": ({}, "act_random", {}),
    "rill_fn": ({}, "fn_random", {}),
    "rill_dot_row": ({"B": 8}, "dot_row_random", {"B": 8}),
    "rill_matrix_unit": ({"B": 8}, "matrix_unit_random", {"B": 8}),
    "rill_vector_unit": ({"B": 8, "IDX_BITS": 6}, "vector_unit_random", {"B": 8, "IDX_BITS": 6}),
}


@pytest.mark.slow
@pytest.mark.parametrize("unit", sorted(MILLION))
def test_unit_million_vectors(unit):
    """Every arithmetic unit at 1M random vectors (specials included): `pytest -m slow`."""
    parameters, testcase, bench = MILLION[unit]
    b = build(unit, manifest.names(unit), parameters=parameters or None)
    run_test(b, "tb_units", testcase=testcase,
             extra_env={**params(**bench, N=1_000_000), "RILL_COSIM_VECTORS": "1000000"})
