# `make demo` and `make test` do all set-up on a fresh machine (a local virtualenv in .venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hydro demo

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	$(BIN)/hydro bench route --segments 328000

clean:
	rm -rf $(VENV) demo_output
