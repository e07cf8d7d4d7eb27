# Two commands do all the set-up on a fresh machine:
#   make demo   — build the pinned environment, run the whole workflow on the embedded demo
#   make test   — build the pinned environment, run the test suite
# Edit loop: make test-fast (every test not marked slow).
# Also: make bench (figures → BENCHMARKS.md), make dag (paper-scale plan), make lint,
#       make rulegraph (the README's pipeline picture).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
CORES  ?= 2
STAMP   = $(VENV)/.selectbench-installed

.PHONY: demo demo-all test test-fast bench bench-scale dag lint conda-env readme-table rulegraph

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: a bare torch requirement pulls several GB of CUDA wheels
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.lock -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
	  $(BIN)/snakemake --configfile config/demo.yaml --cores $(CORES)
	HF_HUB_OFFLINE=1 $(BIN)/snakemake --configfile config/demo.yaml --report results/reports/report.html
	@echo
	@echo "Demo done. Report: results/reports/report.html  Tables: results/reports/{summary,tidy,cost}.csv"

# every method of the seed papers end to end (own work directory: runs/demo_all/)
demo-all: $(STAMP)
	mkdir -p runs/demo_all
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
	  $(BIN)/snakemake --directory runs/demo_all --configfile config/demo_all.yaml --cores $(CORES)
	@echo "All-methods demo done: runs/demo_all/results/reports/{summary,tidy,cost}.csv"

test: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false $(BIN)/python -m pytest -q -n $(CORES) --dist loadfile

# the edit loop: every test not marked slow (no end-to-end workflow runs)
test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false $(BIN)/python -m pytest -q -m "not slow" -n $(CORES) --dist loadfile

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m selectbench.bench --out BENCHMARKS.md

# the 5.8M-row pool (Tülu 2 unfiltered size): normalize, random, length, top_k in bounded memory (≤ 60 min)
bench-scale: $(STAMP)
	HF_HUB_OFFLINE=1 nice -n 10 $(BIN)/python -m selectbench.bench_scale --rows 5800000 --out BENCHMARKS.md

dag: $(STAMP)
	$(BIN)/snakemake -n --quiet rules

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakemake --lint --configfile config/demo.yaml
	$(BIN)/snakefmt --check Snakefile rules

# envs/selectbench.yaml pins exactly what requirements.lock pins (regenerate after locking)
conda-env: $(STAMP)
	$(BIN)/python -m selectbench.condaenv
# the README's demo results table, printed from the demo's report (paste it; it cannot drift)
readme-table: $(STAMP)
	$(BIN)/selectbench readme-table results/reports/summary.csv
# the README's pipeline picture: the demo's rule graph as Mermaid (a test checks it is current)
rulegraph: $(STAMP)
	$(BIN)/selectbench rulegraph --write README.md
