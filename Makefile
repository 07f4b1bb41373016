# moralbank — common tasks. `make test` is the README's test command.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: venv demo test lint clean

venv: $(VENV)/.installed

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-install only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[test]'
	touch $@

demo: venv
	$(VENV)/bin/moralbank demo --serve

test: venv
	$(PY) -m pytest -n 2 --durations=15

lint: venv
	$(PY) -m pytest tests/test_architecture.py

clean:
	rm -rf var $(VENV)
