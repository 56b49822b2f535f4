# Every target makes .venv on demand, so a fresh clone needs only python3 and make.
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench synth clean
.DEFAULT_GOAL := run

$(STAMP): pyproject.toml .ci/system-deps
	bash .ci/system-deps
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

run: $(STAMP)
	$(PY) -m rill demo

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist worksteal -q

lint: $(STAMP)
	$(VENV)/bin/ruff check compiler tests cosim bench
	$(PY) -m rill lint-rtl

synth: $(STAMP)
	$(PY) -m rill synth --fmax
	$(PY) -m rill synth c1b8

bench: $(STAMP)
	$(PY) bench/bench.py

clean:
	rm -rf build .pytest_cache
