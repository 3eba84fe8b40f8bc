# The two commands a newcomer needs: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint claude-code clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/switchyard demo $(DEMO_ARGS)

# The real Claude Code CLI for the end-to-end tests (skipped, with a reason, without npm).
claude-code:
	@bash scripts/install-claude-code.sh || echo "Claude Code CLI not installed: the end-to-end tests will skip"

test: $(STAMP) claude-code
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The loop while working: everything but the whole-system proofs and soaks (marker `slow`).
test-fast: $(STAMP) claude-code
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy core
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .cache
