# The two commands a newcomer needs: `make demo` and `make test`. Each sets itself up.
# Both install the exact versions of requirements/*.txt (hash-checked); `make lock` rewrites them
# from pyproject.toml's ranges. `make demo` installs only what the services need (runtime.txt),
# `make test` adds the test tools, the notebooks' kernel and the benchmarks' profiler (dev.txt).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
STAMP  := $(VENV)/.installed
# the lock tool, itself from PyPI at a known version
UV_VERSION := 0.13.9
LOCK   := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
          --no-emit-package switchyard --quiet

.PHONY: demo test test-fast lint lock wheel claude-code clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The project itself goes in editable and without dependencies: every dependency is in the lock,
# and `pip check` fails when pyproject.toml asks for something the lock lacks.
$(RUNTIME_STAMP): pyproject.toml requirements/runtime.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/runtime.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(RUNTIME_STAMP)

$(STAMP): pyproject.toml requirements/dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP) $(RUNTIME_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/switchyard demo $(DEMO_ARGS)

# After changing a dependency in pyproject.toml: the development lock first, then the runtime one
# constrained to it, so both name the same versions.
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(LOCK) --extra test --extra bench --extra notebooks -o requirements/dev.txt
	$(LOCK) -c requirements/dev.txt -o requirements/runtime.txt

# The wheel a deployment installs (dist/), built from a clean tree by the same backend as `pip install`.
wheel: | $(BIN)/python
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .

# The real Claude Code CLI for the end-to-end tests (skipped, with a reason, without npm).
claude-code:
	@bash scripts/install-claude-code.sh || echo "Claude Code CLI not installed: the end-to-end tests will skip"

# Two pytest workers (pytest-xdist), each test module whole on one of them (--dist loadfile: a
# module's fixtures, such as a proof's simulated weeks, are built once). The suite's long tests wait
# on the processes they start as much as they compute, so two workers pay off on two cores:
# 1 175 s against 2 117 s one at a time. `make test WORKERS=0` runs in one process.
WORKERS ?= 2
XDIST := $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadfile)

test: $(STAMP) claude-code
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# The loop while working: everything but the whole-system proofs and soaks (marker `slow`).
test-fast: $(STAMP) claude-code
	$(BIN)/python -m pytest $(XDIST) -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy core
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .cache dist build
