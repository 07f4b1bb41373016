# moralbank — common tasks. `make demo` and `make test` are the README's two commands.
# The newest Python >= 3.11 on the PATH (override: make PYTHON=/path/to/python3).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && \
  { command -v $$p; break; }; done)
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --disable-pip-version-check -q

.PHONY: venv demo test machine lint clean

venv: $(VENV)/.serve

$(PY):
	@test -n "$(PYTHON)" || { echo "need Python >= 3.11 with venv (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Serving needs only the package's own dependencies: a fresh machine shows pages fast.
$(VENV)/.serve: pyproject.toml | $(PY)
	$(PIP) -e .
	touch $@

# The test tools (pytest, Playwright, schemathesis, …) come on top, for `make test` only.
$(VENV)/.test: pyproject.toml $(VENV)/.serve
	$(PIP) -e '.[test]'
	touch $@

demo: $(VENV)/.serve
	$(VENV)/bin/moralbank demo --serve

# System packages (PostgreSQL server binaries, Chromium, fonts, …): installed as root,
# otherwise the script prints the one command to run. .ci/run calls `make test` too.
machine:
	@bash ops/machine/test-packages.sh

test: machine
	@$(MAKE) --no-print-directory $(VENV)/.test
	$(PY) -m pytest -n 2 --durations=15

lint: $(VENV)/.test
	$(PY) -m pytest tests/test_architecture.py

clean:
	rm -rf var $(VENV)
