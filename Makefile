# micronas: the README's commands.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench venv clean

venv: $(STAMP)

# torch is installed first and pinned, so that no CUDA build is pulled in by a dependency.
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Profile this machine's latency table (resumes; skips what it has), then search under a latency budget
# and retrain on it: the deployed network's predicted latency is printed beside the measured one, with the
# tolerance of the host's timing protocol (docs/latency.md).
DEMO_LATENCY_MS ?= 2.0
demo: $(STAMP)
	$(PY) -m micronas.profiling.profile mcu=host dataset=basicmotions
	$(PY) search.py dataset=basicmotions mcu=host constraints.latency=$(DEMO_LATENCY_MS) retrain=true

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)
	$(PY) -m pytest -q -m ""

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
