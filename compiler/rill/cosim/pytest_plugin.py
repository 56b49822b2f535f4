"""pytest plugin (pyproject: `-p rill.cosim.pytest_plugin`): functional coverage of the cosim
suite (rill.cosim.coverage). Every `rill.cosim.run` of the session is accumulated; the summary
(hit counts and HOLES, bins never hit) is printed at the end and written to build/coverage.json
and build/coverage.txt. Under pytest-xdist each worker hands its accumulator to the controller,
which merges them. (A plugin, not cosim/conftest.py: two rootdir conftest modules shadow each
other, and tests/ imports helpers from its own.)"""

from __future__ import annotations

import json

import pytest

from rill.cosim import coverage

_KEY = "rill_coverage"


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


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
