"""pytest plugin (pyproject: `-p rill.cosim.pytest_plugin`): functional coverage of the cosim
suite (rill.cosim.coverage). Every `rill.cosim.run` of the session is accumulated; the summary
(hit counts and HOLES, bins never hit) is printed at the end and written to build/coverage.json
and build/coverage.txt. Under pytest-xdist each worker hands its accumulator to the controller,
which merges them. It also puts the tests marked `early` first. (A plugin, not
cosim/conftest.py: two rootdir conftest modules shadow each other, and tests/ imports helpers
from its own.)"""

from __future__ import annotations

import json

import pytest

from rill.cosim import coverage

_KEY = "rill_coverage"


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_collection_modifyitems(items):
    """Tests marked `early` first (a stable sort, the rest in collection order): the whole
    accelerator's synthesis is one 12-minute test, and started halfway it set the length of
    the parallel run (`pytest -n 2 --dist worksteal`: the other worker takes everything
    else, and the early test's queued neighbours when it runs dry)."""
    items.sort(key=lambda item: item.get_closest_marker("early") is None)


def pytest_sessionfinish(session):
    if _is_worker(session.config):
        session.config.workeroutput[_KEY] = json.dumps(coverage.SESSION.to_dict())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    data = getattr(node, "workeroutput", {}).get(_KEY)
    if data:
        coverage.SESSION.merge(coverage.Coverage.from_dict(json.loads(data)))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    cov = coverage.SESSION
    if _is_worker(config) or not cov.runs:
        return
    js, txt = cov.write(config.rootpath / "build")
    terminalreporter.write_sep("-", "rill cosim coverage")
    terminalreporter.write_line(cov.summary())
    terminalreporter.write_line(f"written to {js} and {txt}")
