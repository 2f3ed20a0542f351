# Thin wrappers. Each target creates/uses a local virtual environment in .venv.
#   make run          set up the notebooks' install, then the main job (lrkit quickstart)
#   make lab          set up the notebooks' install, then JupyterLab on notebooks/ (the .venv kernel, widgets)
#   make test         set up the development install ([dev]), then the whole test suite
#   make notebooks    execute every notebook in smoke mode into build/notebooks (+ HTML)
#   make render       execute every notebook in FULL mode and render docs/notebooks/*.html (about 2 h on 2 cores)
#   make setup-peers  the development install plus the pinned peers (fastai, Lightning, …) of BENCHMARKS §2/§3
#   make bench        the lite benchmark runs (hours; resumable) + report into benchmarks/results
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# the installs, lightest first: each stamp says which extras the venv holds
STAMP_NOTEBOOKS := $(VENV)/.lrkit-notebooks
STAMP_DEV := $(VENV)/.lrkit-dev
STAMP_PEERS := $(VENV)/.lrkit-peers
# extra arguments for JupyterLab, e.g. make lab LAB_ARGS="--no-browser --port 8899"
LAB_ARGS ?=

.PHONY: setup setup-notebooks setup-dev setup-peers run lab test notebooks render bench lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# the notebooks' install: lrkit + [notebooks] (JupyterLab, ipykernel, ipywidgets, papermill, nbconvert) + [modern]
# (the optimizers notebook 08 uses) — none of the test or cluster tooling of [dev]
setup-notebooks: $(STAMP_NOTEBOOKS)
$(STAMP_NOTEBOOKS): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[notebooks,modern]"
	touch $@

# the development install: everything above plus the test suite's tools ([dev])
setup: setup-dev
setup-dev: $(STAMP_DEV)
$(STAMP_DEV): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[dev,notebooks]"
	touch $@

setup-peers: $(STAMP_PEERS)
$(STAMP_PEERS): pyproject.toml $(STAMP_DEV)
	$(PY) -m pip install --quiet -e ".[dev,notebooks,peers]"
	touch $@

run: setup-notebooks
	$(VENV)/bin/lrkit quickstart

lab: setup-notebooks
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(LAB_ARGS)

test: setup-dev
	$(PY) -m pytest

notebooks: setup-notebooks
	$(PY) ci/run_notebooks.py --out build/notebooks --html

render: setup-notebooks
	$(PY) ci/render_notebooks.py --full --out docs/notebooks

bench: setup-dev
	for e in smith2017-table1 smith2017-fig3 sgdr onecycle discriminative; do \
	  $(VENV)/bin/lrkit bench run $$e --scale lite --out benchmarks/results || exit 1; done
	$(VENV)/bin/lrkit bench report --out benchmarks/results --headline docs/headline.png

lint: setup-dev
	$(VENV)/bin/ruff check lrkit tests ci benchmarks

clean:
	rm -rf build .pytest_cache .hypothesis

# the mutation score of the pure core (issue #30): mutmut in a scratch copy (build/mutation), one worker,
# ~40 min on 2 half-busy cores; installs mutmut into the venv on demand. Not part of CI.
.PHONY: mutation
mutation: setup-dev
	bash ci/mutation.sh $(VENV)
