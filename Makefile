# Two commands on a fresh machine: `make run` (the whole DAG on the offline default) and
# `make test` (the suite). Both create .venv from the pinned requirements.txt if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
STAMP := $(VENV)/.installed

.PHONY: run test bench lint dry-run clean venv venv-gpu

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

# `make venv-gpu`: a separate venv for GPU machines (.venv-gpu) from requirements-gpu.txt:
# tensorflow[and-cuda] of the same version as tensorflow-cpu, CUDA wheels pinned (docs/gpu.md).
# `make run` and `make test` keep using the CPU venv; use the GPU one as
# .venv-gpu/bin/snakemake ... or tools/gpu_check.sh.
VENV_GPU := .venv-gpu
STAMP_GPU := $(VENV_GPU)/.installed

$(STAMP_GPU): requirements-gpu.txt
	test -x $(VENV_GPU)/bin/python || $(PYTHON) -m venv $(VENV_GPU)
	$(VENV_GPU)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-gpu.txt
	touch $(STAMP_GPU)

venv-gpu: $(STAMP_GPU)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS) tests

# `make bench`: quick sizes, results in benchmarks/bench/ (ensembles.json, pipeline.json/.tsv/.md;
# docs/benchmarks.md). About 20 min on 2 quiet cores: items 1-4 ~5 min, C evaluation ~1 min,
# D training stage ~5 min, B paper-preset job counts ~0.5 min, A make-run (cold `make run` of
# the baseline revision and of the working tree, side by side) ~8 min. Without A:
# make bench PIPELINE_BENCH_ARGS="--skip make-run". Larger sizes:
# make bench BENCH_ARGS= PIPELINE_BENCH_ARGS=--full   (add --e2e for the snakemake timings)
BENCH_ARGS ?= --small
PIPELINE_BENCH_ARGS ?=
BENCH_DIR ?= benchmarks/bench
bench: $(STAMP)
	mkdir -p $(BENCH_DIR)
	$(BIN)/python tests/benchmarks/bench_ensembles.py $(BENCH_ARGS) > $(BENCH_DIR)/ensembles.json
	cat $(BENCH_DIR)/ensembles.json
	$(BIN)/python tests/benchmarks/bench_pipeline.py $(PIPELINE_BENCH_ARGS) --out $(BENCH_DIR) > $(BENCH_DIR)/pipeline.jsonl
	cat $(BENCH_DIR)/pipeline.md

# `make lint`: the style checks CI runs before the tests (settings in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile rules
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
