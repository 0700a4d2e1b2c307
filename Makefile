# The two commands a newcomer runs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv test lint demo bench bench-js bench-gateway clean js-test

# (an editable install builds the optional C accelerator, zpyro/_speedups.c, in place)
$(VENV)/.installed: setup.cfg pyproject.toml setup.py zpyro/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,gateway]'
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	@# tests/test_multihost.py makes network namespaces with `ip`: as root, get it if missing
	@[ "$$(id -u)" != 0 ] || command -v ip >/dev/null || (command -v apt-get >/dev/null && apt-get install -y -q iproute2) || true
	@# the gateway's browser tests drive Debian's Chromium (never a downloaded one): as root, get it
	@[ "$$(id -u)" != 0 ] || [ -x /usr/bin/chromium ] || ! command -v apt-get >/dev/null || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) || true
	$(PY) -m pytest --cov --cov-branch --cov-report=term-missing:skip-covered -q
	@# again without the C accelerator (the fast tests): the pure-Python path must stay right too
	ZPYRO_PURE_PYTHON=1 $(PY) -m pytest -q -m "not slow" -p no:cacheprovider
	$(MAKE) js-test

# The Node.js package (clients/js): its own npm dependencies, then node's test runner against
# real zpyro daemons and a broker started from this tree's venv.
js-test: venv
	cd clients/js && npm ci --no-audit --no-fund --loglevel=error
	cd clients/js && ZPYRO_PYTHON=$(abspath $(PY)) node --test --test-concurrency=1 test/

demo: venv
	$(PY) examples/demo.py

bench: venv
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/bench.py

bench-js: venv
	cd clients/js && npm ci --no-audit --no-fund --loglevel=error
	ZPYRO_PYTHON=$(abspath $(PY)) node bench/bench_js.mjs

bench-gateway: venv
	$(PY) -m pip install -q -e '.[bench]'
	@[ "$$(id -u)" != 0 ] || command -v wrk >/dev/null || ! command -v apt-get >/dev/null || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk || true
	$(PY) bench/bench_gateway.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage *.egg-info clients/js/node_modules
	rm -rf build zpyro/_speedups.*.so
