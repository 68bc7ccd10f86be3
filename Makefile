# The two commands a newcomer types: `make dev` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: install dev typecheck browser test bench clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/azora dev $(ARGS)

# mypy over kernel/, consensus/, p2p/, node/ and wallet/ as configured in pyproject.toml.
typecheck: $(STAMP)
	$(BIN)/python -m mypy

# Headless Chromium for the explorer test (tests/node/test_explorer.py): Debian's package, never
# a downloaded browser build. Installed when missing and we are root (as CI is); otherwise the
# explorer test skips and this says how to install it.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "make browser: chromium is missing and we are not root: skipping (run 'sudo apt-get install -y chromium' for the explorer test)"; fi

# One test file per worker at a time (--dist loadfile): a module's fixtures (a dev chain, an
# oracle committee, a 4-validator testnet) are built once, not once on each worker that got
# one of its tests. The 25 slowest tests close the report: where the suite's time goes.
test: typecheck browser
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=25 $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
