# kathansync — everyday commands. `make install` once, then `make test` / `make demo`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install test lint demo bench fuzz clean

$(BIN)/kathansync: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/kathansync ## venv + editable install with the dev extras

test: install ## the whole test suite (network off except the local emulator)
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check kathansync tests scripts
	$(BIN)/ruff format --check kathansync tests scripts
	$(BIN)/mypy

demo: install ## plan and apply against the built-in emulator, no credentials needed
	bash scripts/demo.sh

bench: install ## timings against the emulator with 50 ms latency (see docs/performance.md)
	$(BIN)/python scripts/bench.py

fuzz: install ## the loader fuzz test with many more examples than `make test` runs
	KATHANSYNC_FUZZ_EXAMPLES=20000 $(BIN)/pytest -q tests/test_load_fuzz.py

clean:
	rm -rf $(VENV) .demo .bench build *.egg-info
