"""A sweep: a grid of configs x a set of models, each point compiled on a Dask worker.

Per point: cycles per inference and interval (the VM's compile), fits or not with the
compiler's typed error as the reason, resources and Fmax from rill.hw.resources, µs at that
Fmax and at the config's nominal clock; for the points chosen for RTL (`rtl` in the job), the
Verilator model's measured cycles and interval, checked equal to the program's.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import time
from pathlib import Path

from ..errors import ConfigError, RillError
from ..hw.config import Config

GRID_FIELDS = ("num_cores", "block_size", "weight_depth", "rf_depth", "instr_depth",
               "out_fifo_depth", "clock_mhz")


def config_label(c: Config) -> str:
    """c3b64 w512 r256 (i4096 when not the default)."""
    s = f"c{c.num_cores}b{c.block_size} w{c.weight_depth} r{c.rf_depth}"
    if c.instr_depth != Config.__dataclass_fields__["instr_depth"].default:
        s += f" i{c.instr_depth}"
    return s


def grid(axes: dict[str, list]) -> list[Config]:
    """The product of the axes (Config field -> values); a missing field takes the value of
    the default preset, bittware_ia840f_c3b64 (3 cores x 64, 512 weight blocks, 320 MHz).
    A combination that is not a valid Config is a ConfigError naming it."""
    unknown = set(axes) - set(GRID_FIELDS)
    if unknown:
        raise ConfigError(f"unknown grid axes {sorted(unknown)}; axes: {', '.join(GRID_FIELDS)}")
    names = [k for k in GRID_FIELDS if k in axes]
    out = []
    for values in itertools.product(*(axes[k] for k in names)):
        base = Config.bittware_ia840f_c3b64().to_dict()
        out.append(Config(**{**base, **dict(zip(names, values, strict=True))}))
    if not out:
        raise ConfigError("the grid is empty")
    return out


def load_grid(path: str | Path) -> list[Config]:
    """A JSON grid: {"num_cores": [1, 2], "block_size": [16, 32], ...} (a product), or a list
    of Config objects / preset names."""
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the grid {path}: {e}") from e
    if isinstance(d, dict):
        return grid({k: v if isinstance(v, list) else [v] for k, v in d.items()})
    if isinstance(d, list):
        return [Config.preset(x) if isinstance(x, str) else Config.from_dict(x) for x in d]
    raise ConfigError(f"{path}: a grid is a JSON object of axes or a list of configs")


def evaluate(job: dict, *, workdir: str, models: dict, **_: object) -> dict:
    """One point on a worker: compile, count, estimate resources; RTL when job["rtl"]."""
    from ..hw import resources

    t0 = time.monotonic()
    config = Config.from_dict(job["config"])
    model = models[job["model"]]
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    (wd / "job.json").write_text(json.dumps(job, indent=1) + "\n")
    row: dict = {"model": job["model"], "config": config_label(config),
                 **{k: getattr(config, k) for k in GRID_FIELDS}}
    est = resources.estimate(config)
    row.update(est.to_row())
    row.update(fits=False, reason="", cycles=None, interval=None, us_at_fmax=None,
               us_at_clock=None, rtl_cycles=None, rtl_interval=None, rtl_equal=None,
               rtl_error="")
    try:
        program = model.nnir.to_program(config, name=job["model"])
    except RillError as e:  # does not fit (AllocationError), or cannot compile for this config
        row["reason"] = f"{type(e).__name__}: {str(e).splitlines()[0]}"
    else:
        cyc = program.cycle_count_per_inference()
        row.update(fits=True, cycles=cyc, interval=program.interval_cycles_per_inference(),
                   us_at_fmax=cyc / est.fmax_mhz, us_at_clock=cyc / config.clock_mhz)
        if job.get("rtl"):
            _rtl(program, model.inputs, row)
    row["compile_s"] = round(time.monotonic() - t0, 3)
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    (wd / "result.json").write_text(json.dumps(row, indent=1, default=str) + "\n")
    return row


def _rtl(program, inputs, row: dict) -> None:
    from ..cosim.run import run as cosim_run

    try:
        res = cosim_run(program, inputs, back_to_back=True, check=False, diagnose=False)
    except Exception as e:  # no Verilator, a failed build: the VM figures stand, say why
        row["rtl_error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        return
    cycles = sorted(set(res.cycles_per_inference))
    row["rtl_cycles"] = cycles[0] if len(cycles) == 1 else "/".join(map(str, cycles))
    ivs = sorted(set(res.intervals))
    row["rtl_interval"] = (ivs[0] if len(ivs) == 1 else "/".join(map(str, ivs))) if ivs else None
    row["rtl_equal"] = bool(res.ok and cycles == [row["cycles"]]
                            and (not ivs or ivs == [row["interval"]]))
    if not res.ok:
        row["rtl_error"] = "; ".join((res.errors or ["outputs differ from the VM"])[:2])


def plan(configs: list[Config], model_names: list[str]) -> list[dict]:
    """Jobs, configs outer and models inner (the VM only)."""
    return [{"config": c.to_dict(), "model": m, "rtl": False}
            for c in configs for m in model_names]


def rtl_picks(rows: list[dict], n: int) -> list[int]:
    """The `n` fitting points to run on the RTL: the cheapest to simulate (fewest MACs per
    cycle), taking the models in turn so that each gets some."""
    by_model: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        if r["fits"]:
            by_model.setdefault(r["model"], []).append(i)
    for idx in by_model.values():
        idx.sort(key=lambda i: (rows[i]["num_cores"] * rows[i]["block_size"] ** 2,
                                rows[i]["weight_depth"], rows[i]["rf_depth"]))
    picks: list[int] = []
    while len(picks) < n and any(by_model.values()):
        for idx in by_model.values():
            if idx and len(picks) < n:
                picks.append(idx.pop(0))
    return picks


def run(configs: list[Config], models: dict, *, workdir: str | Path, scheduler: str | None = None,
        workers: int = 2, rtl_sample: int = 0, progress: bool | None = None) -> list[dict]:
    """Evaluate every config x model on Dask (rows in plan order); then `rtl_sample` of the
    fitting points again with the RTL."""
    from .executor import Executor

    def label(j: dict) -> str:
        what = "RTL" if j["rtl"] else "VM"
        return f"{j['model']} on {config_label(Config.from_dict(j['config']))} ({what})"

    jobs = plan(configs, list(models))
    rows: list[dict] = [{}] * len(jobs)
    with Executor(scheduler=scheduler, workers=workers) as ex:
        for i, row in ex.map(evaluate, jobs, workdir=Path(workdir) / "jobs",
                             shared={"models": models}, progress=progress, label=label):
            rows[i] = row
        picks = rtl_picks(rows, rtl_sample)
        if picks:
            rjobs = [{**jobs[i], "rtl": True} for i in picks]
            for k, row in ex.map(evaluate, rjobs, workdir=Path(workdir) / "rtl-jobs",
                                 shared={"models": models}, progress=progress, label=label):
                rows[picks[k]] = row
    return rows
