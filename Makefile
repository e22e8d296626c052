# Set-up and entry points. Every target creates .venv (torch pinned to 2.13.0) the first time and reuses it after.
VENV   ?= .venv
PYTHON ?= python3
CORES  ?= 2
TEST_WORKERS ?= 2
BIN    := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)

.PHONY: setup quick test paper report lint clean-quick

setup: $(VENV)/.installed

# The versions pinned in envs/pipeline.yaml (the rules' conda env) are the versions installed here.
$(VENV)/.installed: pyproject.toml envs/pipeline.yaml
	$(PYTHON) -m venv $(VENV)
	sed -n 's/^ *- \([A-Za-z0-9_.-]*==[^ ]*\).*/\1/p' envs/pipeline.yaml > $(VENV)/constraints.txt
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c $(VENV)/constraints.txt -e ".[test]"
	touch $@

quick: setup  ## the whole DAG on the quick preset (2 CPU cores, a few minutes) -> results/quick
	snakemake all --cores $(CORES) --configfile workflow/presets/quick.yaml

test: setup  ## the test suite, in TEST_WORKERS processes side by side (docs/TESTS.md)
	pytest -q -n $(TEST_WORKERS)

paper: setup  ## the paper configuration on one GPU -> results/paper
	snakemake all --cores 1 --resources gpu=1

report: setup  ## self-contained HTML report of the quick preset
	snakemake --configfile workflow/presets/quick.yaml --report results/quick/report.html

lint: setup
	snakemake --lint
	snakefmt --check .
