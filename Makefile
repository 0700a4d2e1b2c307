# The two commands a newcomer runs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv test lint demo bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	@# tests/test_multihost.py makes network namespaces with `ip`: as root, get it if missing
	@[ "$$(id -u)" != 0 ] || command -v ip >/dev/null || (command -v apt-get >/dev/null && apt-get install -y -q iproute2) || true
	$(PY) -m pytest --cov --cov-branch --cov-report=term-missing:skip-covered -q

demo: venv
	$(PY) examples/demo.py

bench: venv
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage *.egg-info
