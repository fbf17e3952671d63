# Two commands on a fresh machine: `make run` (the whole DAG on the offline default) and
# `make test` (the suite). Both create .venv from the pinned requirements.txt if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
STAMP := $(VENV)/.installed

.PHONY: run test bench lint dry-run clean venv

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS) tests

bench: $(STAMP)
	$(BIN)/python tests/benchmarks/bench_ensembles.py $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/snakemake --lint

dry-run: $(STAMP)
	$(BIN)/snakemake -n --cores $(CORES)

clean:
	rm -rf results logs benchmarks .snakemake

# `make audit`: manifest of every artifact under results/ and a seeded re-derivation of a
# sample (docs/audit.md). Give the config files the results were made with, e.g.
# make audit AUDIT_CONFIG=configs/cifar10_quick.yaml AUDIT_ARGS="--sample 10 --seed 1"
AUDIT_CONFIG ?= config.yaml
.PHONY: audit
audit: $(STAMP)
	$(BIN)/python workflow_scripts/audit.py --configfile $(AUDIT_CONFIG) $(AUDIT_ARGS)
