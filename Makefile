# Two set-up commands (see README): `make run` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
CAMPAIGN ?= workflows/spinel21.yaml
STORE    ?= mvflows_data

.PHONY: run test lint venv benchmark clean

$(BIN)/mvflows: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# the CPU build of torch first, so nothing pulls a multi-GB CUDA build
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(BIN)/mvflows

venv: $(BIN)/mvflows

# `mvflows run` exits 1 when some pairs are partial or failed: flagged results, which its
# table explains, not a broken run. Only bad input (2) or an interruption fails `make run`.
run: venv
	$(BIN)/mvflows run $(CAMPAIGN) --store $(STORE) || [ $$? -eq 1 ]
	@echo "results: $(BIN)/mvflows results --store $(STORE); figures: $(BIN)/mvflows plot voltage-capacity --store $(STORE); guide: docs/README.md"

test: venv
	$(BIN)/ruff check mvflows tests benchmarks
	$(BIN)/ruff format --check mvflows tests benchmarks
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check mvflows tests benchmarks
	$(BIN)/ruff format --check mvflows tests benchmarks

benchmark: venv
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) mvflows_data
