# Thin wrappers. Each target creates/uses a local virtual environment in .venv.
#   make run        set up + run the main job (lrkit quickstart)
#   make test       set up + run the whole test suite (unit tests, notebooks, bench smoke runs)
#   make notebooks  execute every notebook into build/notebooks (+ HTML)
#   make bench      the lite benchmark runs (hours; resumable) + report into benchmarks/results
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.lrkit-installed

.PHONY: setup run test notebooks bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: setup
	$(VENV)/bin/lrkit quickstart

test: setup
	$(PY) -m pytest

notebooks: setup
	$(PY) ci/run_notebooks.py --out build/notebooks --html

bench: setup
	for e in smith2017-table1 smith2017-fig3 sgdr onecycle discriminative; do \
	  $(VENV)/bin/lrkit bench run $$e --scale lite --out benchmarks/results || exit 1; done
	$(VENV)/bin/lrkit bench report --out benchmarks/results --headline docs/headline.png

lint: setup
	$(VENV)/bin/ruff check lrkit tests ci benchmarks

clean:
	rm -rf build .pytest_cache .hypothesis
