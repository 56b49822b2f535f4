"""Run independent jobs on Dask `distributed`: a LocalCluster by default, or a real cluster.

    with Executor(scheduler=None, workers=2) as ex:          # LocalCluster, 2 processes
        for i, result in ex.map(fn, jobs, shared={"x": big}):  # results as they finish
            ...

`scheduler="tcp://host:8786"` connects to a running scheduler (`dask scheduler` +
`dask worker` processes, or a dask-jobqueue SLURMCluster/LSFCluster: docs/codesign.md).
`shared` values are scattered once to every worker and passed to `fn` as keyword arguments
(a model's NNIR goes to each worker once, not once per job). Each job gets its own work
directory `<workdir>/<job key>/`, passed to `fn` as `workdir=`; on a real cluster it must be
on a file system the workers share with the client for the client to read what they leave.

Verilator builds a job asks for are keyed by a hash of sources and parameters
(rill.cosim.verilator.build) and built under an exclusive file lock on that key: two workers
that want the same build on one machine (or on a shared file system with working `flock`)
build it once, and the second finds it cached.

Anything with `fn(job, *, workdir, **shared) -> result` can use this: the sweep does, and so
can a fuzzer or a regression (jobs are plain, picklable values).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path


def quiet() -> bool:
    """No progress lines under pytest or when stderr is not a terminal."""
    return "PYTEST_CURRENT_TEST" in os.environ or not sys.stderr.isatty()


class Executor:
    def __init__(self, scheduler: str | None = None, workers: int = 2,
                 threads_per_worker: int = 1) -> None:
        self.scheduler = scheduler
        self.workers = workers
        self.threads_per_worker = threads_per_worker
        self.cluster = None
        self.client = None

    def __enter__(self) -> Executor:
        from distributed import Client, LocalCluster

        if self.scheduler:
            self.client = Client(self.scheduler, timeout="30s")
        else:
            # processes, not threads: the compiler and the VM hold the GIL; no dashboard (its
            # port would clash between concurrent sweeps and it needs bokeh)
            self.cluster = LocalCluster(n_workers=self.workers,
                                        threads_per_worker=self.threads_per_worker,
                                        processes=True, dashboard_address=None,
                                        silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def describe(self) -> str:
        info = self.client.scheduler_info()
        ws = info.get("workers", {})
        threads = sum(w.get("nthreads", 0) for w in ws.values())
        where = self.scheduler or "LocalCluster"
        return f"{where}: {len(ws)} workers, {threads} threads"

    def map(self, fn: Callable, jobs: Iterable[dict], *, workdir: str | Path,
            shared: dict | None = None, progress: bool | None = None,
            label: Callable[[dict], str] | None = None) -> Iterator[tuple[int, object]]:
        """Submit every job; yield (index, result) in the order they finish."""
        from distributed import as_completed

        jobs = list(jobs)
        show = (not quiet()) if progress is None else progress
        # a list of one: scatter() of a dict would scatter its values one by one
        shared_f = {k: self.client.scatter([v], broadcast=True, hash=False)[0]
                    for k, v in (shared or {}).items()}
        workdir = Path(workdir)
        futures = {}
        batch = uuid.uuid4().hex[:8]
        for i, job in enumerate(jobs):
            key = f"job-{i:04d}"
            f = self.client.submit(fn, job, workdir=str(workdir / key), **shared_f,
                                   key=f"{getattr(fn, '__name__', 'job')}-{batch}-{key}",
                                   pure=False)
            futures[f] = i
        t0 = time.monotonic()
        done = 0
        for f in as_completed(futures):
            i = futures[f]
            result = f.result()  # a job's exception is re-raised here
            done += 1
            if show:
                what = label(jobs[i]) if label else f"job {i}"
                print(f"[{done}/{len(jobs)} {time.monotonic() - t0:6.1f}s] {what}",
                      file=sys.stderr, flush=True)
            yield i, result
