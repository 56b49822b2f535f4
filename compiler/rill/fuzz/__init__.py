"""`python -m rill fuzz`: random models, differential checks (VM vs torch, VM vs RTL), shrinking.

    python -m rill fuzz --seed S --count N [--rtl] [--configs c1b8,c2b16] [--out DIR]
    python -m rill fuzz --replay FILE

Case i of seed S is generated from `random.Random(f"{S}:{i}")` alone (`gen.generate`), so a
case reproduces from seed and index (with `--toward-holes`, an --rtl run biased toward the
coverage holes so far, case i is the best of the candidates `{S}:{i}`, `{S}:{i}:1`, ... for
those holes: it then depends on the cases before it); a failing case is also written to --out
as JSON (seed, index, category, the shrunk model description and the original) that `--replay`
rebuilds. With --rtl, the functional coverage the RTL runs reached (`rill.cosim.coverage`) and
its holes are printed at the end.
Outcomes: pass; rejected (a typed `RillError`: counted by class, not a failure; or `torch:<E>`
when torch itself refuses the generated model, e.g. `nn.LSTM(0, h)`); fail by
category: `exception:<stage>` (any other exception), `numeric` (VM outside what bf16 explains;
also NaN where torch is finite), `stream-vs-seq` (the streaming
program's bits differ from the sequence program's), `schedule` (on a program short enough to
search, the optimal scheduler's is slower than the list scheduler's or gives other bits), `rtl`
(bits or cycles; a faster optimal-schedule program runs on the RTL too), `shape`.
A failure is shrunk (`shrink`: drop nodes and branches, fewer LSTM layers, smaller sizes, fewer
rows and special inputs, plainer forms) while it still fails in the same category.
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from . import gen
from .check import Outcome, run_case

__all__ = ["generate_case", "run_case", "shrink", "save_case", "replay", "main", "Outcome"]


def generate_case(seed: int, index: int, configs: tuple[str, ...] = gen.PRESETS) -> dict:
    return gen.generate(random.Random(f"{seed}:{index}"), configs)


# -- shrinking ---------------------------------------------------------------------------------

def _prune(desc: dict, out: int) -> dict:
    """Keep only the nodes the node `out` depends on; `out` becomes the output."""
    nodes = desc["nodes"]
    live, todo = set(), [out]
    while todo:
        i = todo.pop()
        if i in live:
            continue
        live.add(i)
        n = nodes[i]
        todo += [n[k] for k in gen.REFS if k in n]
    live.add(0)
    order = sorted(live)
    remap = {old: new for new, old in enumerate(order)}
    new = []
    for i in order:
        n = dict(nodes[i])
        for k in gen.REFS:
            if k in n:
                n[k] = remap[n[k]]
        new.append(n)
    d = copy.deepcopy(desc)
    d["nodes"] = new
    return d


def _bypass(desc: dict, i: int, to: int) -> dict:
    """Node i replaced by node `to` (same feature size) in every use."""
    d = copy.deepcopy(desc)
    for n in d["nodes"][i + 1:]:
        for k in gen.REFS:
            if n.get(k) == i:
                n[k] = to
    return _prune(d, len(d["nodes"]) - 1 if i != len(d["nodes"]) - 1 else to)


def _candidates(desc: dict) -> Iterator[dict]:
    nodes = desc["nodes"]
    last = len(nodes) - 1
    f = gen.features(desc)
    for j in range(last):  # an earlier node as the output
        yield _prune(desc, j) if j else None
    for i in range(1, last + 1):  # drop one node
        n = nodes[i]
        for k in gen.REFS:
            if k in n and f[n[k]] == f[i]:
                yield _bypass(desc, i, n[k])
    for i, n in enumerate(nodes):  # simplify one node
        if n["op"] in gen.RNNS and n["layers"] > 1:
            yield _edit(desc, i, layers=n["layers"] - 1)
        for key in ("bias", "buffer", "special"):
            if n.get(key):
                yield _edit(desc, i, **{key: False})
        if n.get("form") not in (None, "module"):
            yield _edit(desc, i, form="module")
    for size in sorted(set(f), reverse=True):  # every node of one size made smaller
        for m in sorted({1, size // 2, size - 1}):
            if 1 <= m < size:
                yield _resize(desc, size, m)
    for key, smaller in (("rows", 1), ("wmode", "normal"), ("stream", False),
                         ("config", "c1b8")):
        if desc[key] != smaller:
            yield {**copy.deepcopy(desc), key: smaller}
    for s in desc["specials"]:
        yield {**copy.deepcopy(desc), "specials": [t for t in desc["specials"] if t != s]}


def _edit(desc: dict, i: int, **kw) -> dict:
    d = copy.deepcopy(desc)
    d["nodes"][i].update(kw)
    return d


def _resize(desc: dict, size: int, m: int) -> dict:
    d = copy.deepcopy(desc)
    if d["in"] == size:
        d["in"] = m
    for n in d["nodes"]:
        for key in ("out", "hidden"):
            if n.get(key) == size:
                n[key] = m
    return d


def shrink(desc: dict, fails: Callable[[dict], bool], budget: int = 200) -> dict:
    """Greedy: take the first smaller candidate that still fails, until none does."""
    tries = 0
    progress = True
    while progress and tries < budget:
        progress = False
        for cand in _candidates(desc):
            if cand is None or cand == desc:
                continue
            tries += 1
            if fails(cand):
                desc, progress = cand, True
                break
            if tries >= budget:
                break
    return desc


# -- files -------------------------------------------------------------------------------------

def save_case(out: Path, seed: int, index: int, outcome: Outcome, desc: dict,
              original: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"fuzz-{seed}-{index}-{outcome.category.replace(':', '-')}.json"
    path.write_text(json.dumps({"seed": seed, "index": index, "category": outcome.category,
                                "detail": outcome.detail, "desc": desc, "original": original},
                               indent=1))
    return path


def replay(path: str | Path, rtl: bool = False) -> Outcome:
    return run_case(json.loads(Path(path).read_text())["desc"], rtl=rtl)


# -- command line ------------------------------------------------------------------------------

def _fails_like(category: str, rtl: bool) -> Callable[[dict], bool]:
    def fails(d: dict) -> bool:
        o = run_case(d, rtl=rtl)
        return o.status == "fail" and o.category == category
    return fails


# -- coverage (rill.cosim.coverage): the bins a desc can plausibly reach -----------------------

HOLE_CANDIDATES = 4
_OP_HOLES = {"op.v.RELU": ("act", "relu"), "op.v.TANH": ("act", "tanh"),
             "op.v.SIGMOID": ("act", "sigmoid"), "op.v.ADD": ("bin", "add"),
             "op.v.SUB": ("bin", "sub"), "op.v.MUL": ("bin", "mul")}


def hole_score(desc: dict, holes: set[str]) -> float:
    """How many of the coverage `holes` a case might fill, roughly, from its description."""
    nodes = desc["nodes"][1:]
    fns = {(n["op"], n.get("fn")) for n in nodes}
    score = sum(2.0 for h, want in _OP_HOLES.items() if h in holes and want in fns)
    rnn = any(n["op"] in gen.RNNS for n in nodes)
    if "op.m.MAC" in holes and any(n["op"] == "linear" and not n["bias"] for n in nodes):
        score += 2
    kinds = {"ACT": rnn or ("act", "tanh") in fns or ("act", "sigmoid") in fns,
             "MUL": rnn or ("bin", "mul") in fns,
             "ADD": rnn or any(n["op"] == "bin" for n in nodes),
             "RELU": ("act", "relu") in fns}
    score += sum(1.0 for k, has in kinds.items() if has and any(
        h.startswith(f"dist.{k}.") for h in holes))
    cores = int(desc["config"].split("c")[-1].split("b")[0])
    score += sum(h.startswith(f"bank.c{cores}.") for h in holes) / 8
    b = gen.block_size(desc["config"])
    f = gen.features(desc)
    chains = {-(-f[n["src"]] // b) for n in nodes if n["op"] == "linear"}
    score += sum(f"chain.{min(n, 9)}{'+' if n >= 9 else ''}" in holes for n in chains)
    return score


def toward_holes(seed: int, index: int, configs: tuple[str, ...], holes: set[str]) -> dict:
    """Of the case's candidates, the one with the best `hole_score` (the first on a tie)."""
    cands = [generate_case(seed, index, configs)] + [
        gen.generate(random.Random(f"{seed}:{index}:{j}"), configs)
        for j in range(1, HOLE_CANDIDATES)]
    return max(cands, key=lambda d: hole_score(d, holes))


def fuzz(seed: int, count: int, rtl: bool = False, configs: tuple[str, ...] = gen.PRESETS,
         out: Path | None = None, do_shrink: bool = True, log=print,
         holes: bool = False) -> dict:
    """Run `count` cases; returns the summary (counts by status and category; with rtl, the
    functional coverage the RTL runs reached, `coverage`, also logged). holes: bias the cases
    toward the coverage holes so far (`toward_holes`)."""
    summary = {"cases": 0, "passed": 0, "rejected": collections.Counter(),
               "failed": collections.Counter(), "files": []}
    if rtl:
        from ..cosim import coverage

        start = coverage.SESSION.copy()
    for i in range(count):
        if rtl and holes:
            desc = toward_holes(seed, i, configs, set(coverage.SESSION.holes()))
        else:
            desc = generate_case(seed, i, configs)
        o = run_case(desc, rtl=rtl)
        summary["cases"] += 1
        if o.status == "pass":
            summary["passed"] += 1
            continue
        if o.status == "rejected":
            summary["rejected"][o.category] += 1
            continue
        summary["failed"][o.category] += 1
        log(f"case {i}: FAIL {o.category}: {o.detail.splitlines()[0] if o.detail else ''}")
        if out is not None:
            fails = _fails_like(o.category, rtl and o.category == "rtl")
            small = shrink(desc, fails, budget=40 if o.category == "rtl" else 200) \
                if do_shrink else desc
            path = save_case(out, seed, i, run_case(small, rtl) if small != desc else o, small,
                             desc)
            summary["files"].append(str(path))
            log(f"  shrunk to {len(small['nodes']) - 1} node(s) -> {path}")
    if rtl:
        reached = coverage.SESSION.since(start)
        summary["coverage"] = reached.to_dict()
        log(reached.summary())
    return summary


def format_summary(s: dict) -> str:
    lines = [f"{'cases':<28}{s['cases']:>6}", f"{'passed':<28}{s['passed']:>6}"]
    typed = {k: v for k, v in s["rejected"].items() if not k.startswith("torch:")}
    lines.append(f"{'rejected (typed errors)':<28}{sum(typed.values()):>6}")
    lines += [f"  {k:<26}{v:>6}" for k, v in sorted(typed.items())]
    torch_refused = sum(s["rejected"].values()) - sum(typed.values())
    if torch_refused:
        lines.append(f"{'not a torch model (skipped)':<28}{torch_refused:>6}")
    lines.append(f"{'failed':<28}{sum(s['failed'].values()):>6}")
    lines += [f"  {k:<26}{v:>6}" for k, v in sorted(s["failed"].items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="rill fuzz", description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=None, help="default: a fresh one, printed")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--rtl", action="store_true", help="also VM vs RTL (slow: few cases)")
    p.add_argument("--configs", default=",".join(gen.PRESETS))
    p.add_argument("--out", type=Path, default=None, help="write failing cases here (shrunk)")
    p.add_argument("--no-shrink", action="store_true")
    p.add_argument("--toward-holes", action="store_true",
                   help="with --rtl: bias the cases toward the coverage holes so far")
    p.add_argument("--replay", type=Path, default=None, help="rerun one saved case")
    ns = p.parse_args(argv)
    if ns.replay is not None:
        o = replay(ns.replay, rtl=ns.rtl)
        print(f"{o.status} {o.category}\n{o.detail}".rstrip())
        return 1 if o.status == "fail" else 0
    configs = tuple(c for c in ns.configs.split(",") if c)
    import rill

    for c in configs:
        if not callable(getattr(rill.Config, c, None)):
            p.error(f"--configs: no preset Config.{c}")
    seed = ns.seed if ns.seed is not None else random.SystemRandom().randrange(2**31)
    print(f"rill fuzz: seed {seed}, {ns.count} case(s), configs {','.join(configs)}"
          f"{', with RTL' if ns.rtl else ''}", flush=True)
    t0 = time.time()
    warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
    s = fuzz(seed, ns.count, ns.rtl, configs, ns.out, not ns.no_shrink, holes=ns.toward_holes)
    print(format_summary(s))
    print(f"{time.time() - t0:.1f} s")
    return 1 if s["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
