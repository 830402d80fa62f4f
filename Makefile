# kathansync — everyday commands. `make install` once, then `make test` / `make demo`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install test lint demo bench fuzz dist spec-shape clean

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

bench: install ## targets of issues 11 and 16 beside the floor, ~3 min, not part of `test` (docs/performance.md)
	$(BIN)/python scripts/bench.py

fuzz: install ## the fuzz and property tests with many more examples than `make test` runs
	KATHANSYNC_FUZZ_EXAMPLES=20000 $(BIN)/pytest -q tests/test_load_fuzz.py
	KATHANSYNC_HYPOTHESIS_PROFILE=long $(BIN)/pytest -q tests/test_property_convergence.py

spec-shape: install ## rewrite kathansync/load/spec_shape.py after changing the manifest models
	$(BIN)/python scripts/spec_shape.py
	$(BIN)/ruff format kathansync/load/spec_shape.py

dist: install ## sdist + wheel in dist/, checked as PyPI would (warnings fail the build)
	rm -rf dist
	@# PYTHONDONTWRITEBYTECODE makes setuptools warn that it skips byte-compiling: not ours.
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m build --outdir dist . >$(VENV)/dist.log 2>&1 \
		|| (cat $(VENV)/dist.log; exit 1)
	@! grep -i -E "warning|deprecat" $(VENV)/dist.log || (echo "make dist: the build warned" >&2; exit 1)
	$(BIN)/twine check --strict dist/*

clean:
	rm -rf $(VENV) .demo .bench build dist *.egg-info
