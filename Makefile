# Every target makes and uses .venv itself, so a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check bench bench-scale lint typecheck clean

$(STAMP): pyproject.toml setup.py credence/ledger/_leafhash.c credence/ledger/utf8.h credence/ledger/buf.h credence/store/_sqlitebulk.c credence/ingest/_attrscan.c credence/engines/_linebuild.c
	$(PYTHON) -c 'import sys; sys.exit("credence needs Python 3.11+") if sys.version_info < (3, 11) else None'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/credence demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check credence tests benchmarks
	$(BIN)/ruff format --check credence tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: $(STAMP)
	rm -f benchmarks/out/run.jsonl
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_score.py
	$(BIN)/python benchmarks/bench_verify.py
	$(BIN)/python benchmarks/bench_trust.py
	$(BIN)/python benchmarks/bench_yaml.py
	$(BIN)/python benchmarks/bench_service.py
	$(BIN)/python benchmarks/bench_portal.py
	$(BIN)/python benchmarks/bench_identity.py
	$(BIN)/python benchmarks/table.py --record

# 10M subjects / 200M records (a generated snapshot, ~6 GB under /tmp): an hour or more
# on two cores, so not part of `bench`.
bench-scale: $(STAMP)
	rm -f benchmarks/out/run.jsonl
	$(BIN)/python benchmarks/bench_scale.py
	$(BIN)/python benchmarks/table.py --record

clean:
	rm -rf $(VENV) credence-data .pytest_cache .mypy_cache .ruff_cache
