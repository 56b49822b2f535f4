"""An exact scheduler: the same constraints as `schedule.py`, solved by CP-SAT (OR-Tools).

The list scheduler is greedy. This one states its constraints as a constraint program and
asks for the schedule with the earliest last output (then the shortest program), starting
from the list schedule as a hint, so it is never worse. When the solver proves optimality
the answer is a floor: no static schedule of this dataflow graph on these units and issue
slots ends sooner (docs/architecture.md, "The latency floor of this array").

The model, for dataflow ops o with issue cycle s_o:
- every edge of `schedule.edges` (data with exact latencies, WAR of pinned state, OUT order):
  s_dst >= s_src + delta;
- a matrix op issues on its weight block's core, at most one per core and cycle;
- a vector op (OUT included) takes one core's vector slot, at most one per core and cycle, and
  a non-OUT op that core's vector write port in cycle s + L - 1, one write per core and cycle;
- one OUT per cycle.
These are the list scheduler's constraints, no more and no fewer; `emit.verify_schedule`
checks the result as it checks the list scheduler's.

The solver's effort is bounded in its deterministic time (`effort`), so a given graph gives
the same program on any machine; with one worker and a fixed seed the search is reproducible.
"""

from __future__ import annotations

import dataclasses

from ..errors import SolverUnavailableError
from ..hw.config import Config
from ..hw.isa import Timing, VOp
from .dataflow import Dataflow
from .schedule import Schedule, edges, finish, latency, list_schedule

# weight of the last output's cycle against the program length in the objective
_LEXI = 1 << 16
# above this many ops the model takes minutes to build and presolve (a 20-step LSTM sequence,
# 6,296 ops: 6 min for nothing better): keep the list schedule and the dependency bound
MAX_OPS = 1500


@dataclasses.dataclass(frozen=True)
class ScheduleResult:
    schedule: Schedule
    t_last_out: int  # issue cycle of the last OUT in `schedule`
    list_t_last_out: int  # the list scheduler's, for comparison
    bound: int  # proven lower bound on t_last_out for this dataflow graph
    proven: bool  # bound == t_last_out: no schedule of this graph is faster


def optimal_schedule(df: Dataflow, config: Config, effort: float = 1.0,
                     hint: Schedule | None = None) -> ScheduleResult:
    """The schedule with the earliest last OUT (then the shortest length) that CP-SAT finds
    within `effort` units of deterministic time (about seconds), and the bound it proves.
    `hint`: the list schedule of `df`, if the caller has it; returned as is when CP-SAT finds
    nothing better."""
    try:
        from ortools.sat.python import cp_model
    except ImportError as e:  # pragma: no cover - the dev install has it
        raise SolverUnavailableError(
            "the optimal scheduler needs OR-Tools: pip install 'rill[opt]' (or ortools)") from e

    tm = Timing.of(config)
    hint = hint if hint is not None else list_schedule(df, config)
    last_op = df.outputs[-1] if df.outputs else None
    list_last = hint.issue[last_op.id] if last_op is not None else 0
    if last_op is None or not df.ops:
        return ScheduleResult(hint, list_last, list_last, 0, False)

    ops = df.ops
    if len(ops) > MAX_OPS:
        dep = dependency_bound(df, tm)
        return ScheduleResult(hint, list_last, list_last, dep, dep >= list_last)
    horizon = hint.length + max(latency(o, tm) for o in ops) + 1
    m = cp_model.CpModel()
    s = {o.id: m.new_int_var(0, horizon, f"s{o.id}") for o in ops}
    for src, dst, delta in edges(df, tm):
        m.add(s[dst.id] >= s[src.id] + delta)

    C = config.num_cores
    issue_m: list[list] = [[] for _ in range(C)]
    issue_v: list[list] = [[] for _ in range(C)]
    write_v: list[list] = [[] for _ in range(C)]
    outs = []
    on_core: dict[int, list] = {}
    for o in ops:
        if o.is_matrix:
            issue_m[o.core].append(m.new_fixed_size_interval_var(s[o.id], 1, f"m{o.id}"))
            continue
        lits = [m.new_bool_var(f"c{o.id}_{c}") for c in range(C)]
        m.add_exactly_one(lits)
        on_core[o.id] = lits
        if o.opcode == VOp.OUT:
            outs.append(m.new_fixed_size_interval_var(s[o.id], 1, f"o{o.id}"))
        else:
            w = m.new_int_var(0, horizon + latency(o, tm), f"w{o.id}")
            m.add(w == s[o.id] + latency(o, tm) - 1)
        for c in range(C):
            issue_v[c].append(m.new_optional_fixed_size_interval_var(s[o.id], 1, lits[c], ""))
            if o.opcode != VOp.OUT:
                write_v[c].append(m.new_optional_fixed_size_interval_var(w, 1, lits[c], ""))
        m.add_hint(lits[hint.core[o.id]], True)
    for group in (*issue_m, *issue_v, *write_v, outs):
        m.add_no_overlap(group)

    end = m.new_int_var(0, 2 * horizon, "end")
    for o in ops:
        m.add(end >= s[o.id] + latency(o, tm))
    last = s[last_op.id]
    m.minimize(last * _LEXI + end)
    for o in ops:
        m.add_hint(s[o.id], hint.issue[o.id])

    solver = cp_model.CpSolver()
    solver.parameters.max_deterministic_time = effort
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    status = solver.solve(m)
    # CP-SAT's bound is weak when it stops early: the dependency path is a floor too
    bound = max(int(solver.best_objective_bound) // _LEXI, dependency_bound(df, tm))
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        # stopped before a first solution (the hint is feasible, but not always completed in
        # time); the bound is proven all the same
        return ScheduleResult(hint, list_last, list_last, bound, bound >= list_last)
    t_last = solver.value(last)
    if (t_last, solver.value(end)) >= (list_last, hint.length):
        # no better than the list schedule: keep it (the same program as the default)
        return ScheduleResult(hint, list_last, list_last, bound, bound >= list_last)
    issue = {o.id: solver.value(s[o.id]) for o in ops}
    core = {o.id: (o.core if o.is_matrix else
                   next(c for c, lit in enumerate(on_core[o.id]) if solver.value(lit)))
            for o in ops}
    return ScheduleResult(finish(df, config, issue, core), t_last, list_last, bound,
                          status == cp_model.OPTIMAL or bound >= t_last)


def dependency_bound(df: Dataflow, tm: Timing) -> int:
    """The earliest issue cycle of the last OUT with unlimited issue slots and write ports:
    the longest path of `schedule.edges` from cycle 0 (a floor of any schedule; WAR edges
    included, as they bind every schedule too)."""
    if not df.outputs:
        return 0
    preds: dict[int, list[tuple[int, int]]] = {o.id: [] for o in df.ops}
    for src, dst, delta in edges(df, tm):
        preds[dst.id].append((src.id, delta))
    # edges may point backwards in op order (WAR): relax to a fixed point (no positive cycle
    # in a schedulable graph, so at most len(ops) rounds; in practice two or three)
    t = {o.id: 0 for o in df.ops}
    for _ in range(len(df.ops)):
        changed = False
        for o in df.ops:
            for src, delta in preds[o.id]:
                if t[src] + delta > t[o.id]:
                    t[o.id] = t[src] + delta
                    changed = True
        if not changed:
            break
    return t[df.outputs[-1].id]

