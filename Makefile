# layer-lab: every target is idempotent and may be run again at any time.
#   make lab    set everything up and open JupyterLab on the start notebook
#   make test   set everything up and run the whole test suite (lint, unit, live, notebooks)
#   make up     only bring up the engine, the registry and the base image; `make up ENGINE=current` also brings
#               up a current Docker (28, containerd image store) beside it and prints its DOCKER_HOST last
#   make record re-run every notebook live with each builder, storing the classic run's outputs and
#               both runs' recordings for replay
#   make bench  set everything up and time the helpers against the docker CLI, on both engines (benchmarks/README.md)
#   make hub    serve the lab to a room from this machine: JupyterHub on 127.0.0.1:8000, one server per learner
#               (USERS=ana,ben ADMIN=teacher; system users that exist), hosting/room-progress.ipynb for the instructor
#   make clean  remove what the lab created on the engine and in its registry, and the virtualenv

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
PYTEST_ARGS ?=
ENGINE ?= default

.PHONY: lab test up venv record bench hub clean

$(VENV)/.installed: pyproject.toml jupyter/overrides.json jupyter/jupyter_server_config.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
	$(PY) -m pip install --quiet -e '.[lab,test]' 2>&1 | grep -v "is ignored" || true
	$(PY) -c "import helpers, docker, pandas, matplotlib, nbval, jupyterlab"
	sh scripts/install_jupyter_config.sh $(PY)
	touch $@

venv: $(VENV)/.installed

up:
	$(PYTHON) scripts/lab_up.py --engine $(ENGINE)

# JupyterLab opens on the start notebook, the file browser showing the notebooks; the URL it prints is that page's.
lab: venv up
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir=notebooks --LabApp.default_url=/lab/tree/00-start-here.ipynb

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval-sanitize.cfg
NBVAL_LAX := --nbval-lax --nbval-current-env -p no:cacheprovider
NO_ENGINE := LAYER_LAB_MODE=replay DOCKER_HOST=tcp://127.0.0.1:9
CLASSIC := LAYER_LAB_BUILDER=classic
BUILDKIT := LAYER_LAB_BUILDER=buildkit

# Stored outputs hold the reports, not progress bars (notebooks/conftest.py does the same for nbval).
record: export LAYER_LAB_PROGRESS = 0

# On Debian 12's Docker 20.10 (overlay2): unit, live and notebook tests, the notebooks' outputs compared with
# the stored (classic) ones, which that engine recorded; every notebook again in replay; then with BuildKit,
# live and in replay, where only the notebooks' own checks (their asserts) decide, since BuildKit prints
# other tables. Then on the current Docker (28, containerd image store, beside it): the live tests and every
# notebook with each builder, the notebooks' own checks deciding. Last, nothing may be left on either engine.
CURRENT := DOCKER_HOST=unix://$(CURDIR)/.lab/engines/current/run/docker.sock

test: venv up
	$(VENV)/bin/ruff check .
	sh scripts/install_browser.sh
	$(PYTHON) scripts/lab_up.py --engine current
	$(PY) -m tests.leftovers snapshot
	$(CURRENT) $(PY) -m tests.leftovers snapshot
	$(CLASSIC) $(PY) -m pytest $(NBVAL) tests notebooks $(PYTEST_ARGS)
	$(CLASSIC) $(NO_ENGINE) $(PY) -m pytest $(NBVAL) notebooks -p no:cacheprovider $(PYTEST_ARGS)
	$(BUILDKIT) $(PY) -m pytest $(NBVAL_LAX) notebooks $(PYTEST_ARGS)
	$(BUILDKIT) $(NO_ENGINE) $(PY) -m pytest $(NBVAL_LAX) notebooks $(PYTEST_ARGS)
	$(CURRENT) $(CLASSIC) $(PY) -m pytest $(NBVAL_LAX) tests/live notebooks $(PYTEST_ARGS)
	$(CURRENT) $(BUILDKIT) $(PY) -m pytest $(NBVAL_LAX) notebooks $(PYTEST_ARGS)
	$(PY) -m tests.leftovers check
	$(CURRENT) $(PY) -m tests.leftovers check

record: venv up
	$(PY) scripts/notebook_chrome.py
	$(CLASSIC) LAYER_LAB_MODE=record $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
		notebooks/[0-9][0-9]-*.ipynb
	$(BUILDKIT) LAYER_LAB_MODE=record $(VENV)/bin/jupyter nbconvert --to notebook --execute \
		--output-dir .lab/buildkit-run notebooks/[0-9][0-9]-*.ipynb

bench: venv up
	$(PY) -m pip install --quiet -e '.[bench]' 2>&1 | grep -v "is ignored" || true
	$(PYTHON) scripts/lab_up.py --engine current
	$(PY) -m benchmarks.run

hub: venv up
	sh scripts/install_hub.sh $(PY)
	LAYER_LAB_HUB_USERS=$(USERS) LAYER_LAB_HUB_ADMIN=$(ADMIN) $(VENV)/bin/jupyterhub -f hosting/jupyterhub_config.py

clean:
	-$(PY) -c "import helpers; print(helpers.connect().cleanup(all_workspaces=True))"
	-$(PYTHON) scripts/lab_up.py --gc-only
	rm -rf $(VENV)
