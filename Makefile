# regsim: `make demo` and `make test` set everything up from a fresh clone
# (Python 3.11+ and make are all they need).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
OUT    ?= data/results

export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: venv demo test bench clean help

help:
	@echo "make demo   - create $(VENV), install regsim, run examples/quickstart.yaml, write a report"
	@echo "make test   - run the whole test suite (pytest)"
	@echo "make bench  - run the benchmarks in benchmarks/ (ratios against peers, same run)"
	@echo "make clean  - remove $(VENV) and generated results"

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "regsim needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dask,trees]"
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/regsim sweep examples/quickstart.yaml --out $(OUT) --rerun
	$(BIN)/regsim report $(OUT)/quickstart -o $(OUT)/quickstart/_report
	@echo
	@echo "Parquet results: $(OUT)/quickstart/   (pd.read_parquet('$(OUT)/quickstart'))"
	@echo "Figures and page: $(OUT)/quickstart/_report/index.html   (the _ keeps pd.read_parquet from reading it)"

test: venv
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(OUT)
