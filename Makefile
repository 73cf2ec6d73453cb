# layer-lab: every target is idempotent and may be run again at any time.
#   make lab    set everything up and open JupyterLab on the start notebook
#   make test   set everything up and run the whole test suite (unit, live, notebooks)
#   make up     only bring up the engine, the registry and the base image
#   make notebooks  re-run every notebook for real and store its outputs (after editing one)
#   make clean  remove what the lab created on the engine (by its label) and the virtualenv

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
PYTEST_ARGS ?=

.PHONY: lab test up venv notebooks clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
	$(PY) -m pip install --quiet -e '.[lab,test]' 2>&1 | grep -v "is ignored" || true
	$(PY) -c "import helpers, docker, pandas, matplotlib, nbval, jupyterlab"
	touch $@

venv: $(VENV)/.installed

up:
	$(PYTHON) scripts/lab_up.py

lab: venv up
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) notebooks/00-start-here.ipynb

test: venv up
	$(PY) -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval-sanitize.cfg tests notebooks $(PYTEST_ARGS)

notebooks: venv up
	$(PY) scripts/notebook_chrome.py
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace notebooks/[0-9][0-9]-*.ipynb

clean:
	-$(PY) -c "import helpers; print(helpers.connect().cleanup(all_workspaces=True))"
	rm -rf $(VENV)
