# Two commands a newcomer needs: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PANEL_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: translations run demo test lint typecheck test-postgres test-sqlite services browsers venv chaos bench bench-criteria bench-pipeline bench-web bench-limits clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Serve Panel on the embedded default (SQLite + in-process jobs) with demo data.
run: $(STAMP)
	$(BIN)/panel db upgrade
	$(BIN)/panel demo --if-empty
	$(BIN)/flask --app panel_service run --host 127.0.0.1 --port 5000

## Re-extract translatable text and compile the catalogues (docs/i18n.md).
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location -o panel_service/translations/messages.pot .
	$(BIN)/pybabel update -i panel_service/translations/messages.pot -d panel_service/translations
	$(BIN)/pybabel compile -d panel_service/translations

services:
	scripts/ensure-services.sh

browsers:
	scripts/ensure-chromium.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test-postgres: $(STAMP) services
	PANEL_TEST_DATABASE=postgresql $(BIN)/pytest -p no:cacheprovider

# The embedded default: every test that does not need PostgreSQL-only parts runs on SQLite too.
test-sqlite: $(STAMP)
	PANEL_TEST_DATABASE=sqlite $(BIN)/pytest -p no:cacheprovider -m "not postgres and not worker and not browser" tests/unit tests/integration

## Everything: install, start services, lint, type-check, the suite on PostgreSQL and on SQLite.
test: $(STAMP) services browsers lint typecheck test-postgres test-sqlite

## Panel's own crash storm (tests/chaos/storm.py): private PostgreSQL and Redis, 20,000 volunteers,
## three seeds in a row, about 5 minutes each; one summary line per seed. A small one runs in make test.
CHAOS_VOLUNTEERS ?= 20000
CHAOS_DURATION ?= 200
chaos: $(STAMP)
	for seed in 1 2 3; do \
		$(BIN)/python -m tests.chaos.storm --seed $$seed --volunteers $(CHAOS_VOLUNTEERS) --duration $(CHAOS_DURATION) || exit 1; \
	done

## Benchmarks (figures go in docs/performance.md); the million-profile runs have their own targets.
bench: bench-criteria bench-pipeline bench-import

bench-criteria: $(STAMP) services
	$(BIN)/python -m bench.criteria_bench --profiles 100000

bench-criteria-1m: $(STAMP) services
	$(BIN)/python -m bench.criteria_bench --profiles 1000000 --engine postgresql

bench-pipeline: $(STAMP) services
	$(BIN)/python -m bench.pipeline_bench --profiles 100000 --workers 1 --workers 2 --emails 5000

bench-pipeline-1m: $(STAMP) services
	$(BIN)/python -m bench.pipeline_bench --profiles 1000000 --workers 1 --workers 2 --chunk-size 50000 --emails 3000

bench-import: $(STAMP) services
	$(BIN)/python -m bench.make_import_file 100000 /tmp/panel-import-100k.jsonl
	psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS panel_import_bench" -c "CREATE DATABASE panel_import_bench"
	DATABASE_URL=postgresql://postgres@127.0.0.1/panel_import_bench $(BIN)/panel db upgrade
	DATABASE_URL=postgresql://postgres@127.0.0.1/panel_import_bench /usr/bin/time -f "%e s wall, %M KiB peak" $(BIN)/panel import profiles /tmp/panel-import-100k.jsonl

## Panel's pages under gunicorn (2 workers, 8 clients) beside bare Flask baselines (bench/baselines/).
bench-web: $(STAMP) services
	$(BIN)/python -m bench.web_bench --duration 10 --clients 8

## Every row of issue 15's table with its hand-built limit measured in the same run (small sizes).
bench-limits: $(STAMP) services
	$(BIN)/python -m bench.limits --small

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
