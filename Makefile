# One entry point for people and CI. `make demo` runs the seed-incident scenario; `make test` the tests.
# Both install what they need first (venv, pinned packages, the pinned Toxiproxy server).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo test gate selftest lint clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)
	$(VENV)/bin/umchaos setup

demo: setup
	$(VENV)/bin/umchaos run scenarios/margin-latency-halt.yaml

test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=25 tests

gate: setup
	$(VENV)/bin/umchaos run scenarios/ --tag gate --junit reports/gate-junit.xml

selftest: setup
	$(VENV)/bin/umchaos selftest --seeds 10 --jobs 2

lint: setup
	$(VENV)/bin/ruff check harness targets tests bench
	$(VENV)/bin/mypy harness targets
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .bin .umchaos
