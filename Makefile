# Two set-up commands (see README): `make run` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
CAMPAIGN ?= workflows/spinel21.yaml
STORE    ?= mvflows_data

.PHONY: run test venv benchmark clean

$(BIN)/mvflows: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# the CPU build of torch first, so nothing pulls a multi-GB CUDA build
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(BIN)/mvflows

venv: $(BIN)/mvflows

run: venv
	$(BIN)/mvflows run $(CAMPAIGN) --store $(STORE)
	$(BIN)/mvflows results --store $(STORE)

test: venv
	$(BIN)/python -m pytest -q

benchmark: venv
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) mvflows_data
