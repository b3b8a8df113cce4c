# Two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every package pinned, runtime and dev: what `make setup`, `.ci/run` and the workflows install.
# pyproject.toml keeps loose ranges for the package's users; `make lock` re-resolves this file.
LOCK := constraints.txt
LOCK_TARGET := --python-version 3.11 --python-platform x86_64-unknown-linux-gnu
# Pinned as well: the installer, and the build backend of pyproject.toml's [build-system].
LOCK_TOOLS := pip 'setuptools>=69'

.PHONY: setup test lint typecheck pytest demo bench lock lock-upgrade clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade -c $(LOCK) pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) --build-constraint $(LOCK) -e '.[dev]'
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache  # [tool.importlinter]: no cache directory left behind

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

test: lint typecheck pytest

demo: setup
	$(BIN)/python scripts/demo.py

bench: setup
	$(BIN)/python benchmarks/run_all.py

# After editing pyproject.toml's dependencies: keep every pin still allowed, add and drop the
# rest. `make lock-upgrade`: move every pin to the newest release the ranges allow.
# Not through `setup`: a range that no longer admits a pin would stop that install.
lock: $(BIN)/uv
	printf '%s\n' $(LOCK_TOOLS) | $(BIN)/uv pip compile pyproject.toml - --extra dev \
		$(LOCK_TARGET) $(UV_FLAGS) \
		--quiet --custom-compile-command 'make lock' --output-file $(LOCK)

lock-upgrade:
	$(MAKE) lock UV_FLAGS=--upgrade

$(BIN)/uv:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv>=0.5,<1'

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
