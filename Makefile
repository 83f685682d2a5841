# Two commands a newcomer needs: `make run` and `make test`. Everything else supports them;
# `make check` is the quick loop while editing, `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PANEL_INSTANCE_PATH ?= $(CURDIR)/instance

# `make test T=tests/integration/test_import.py` runs one file or folder (both engines) instead of
# everything. The SQLite run leaves out the PostgreSQL-only, worker and browser tests; a path that
# holds only those has nothing to run there (pytest's exit status 5), which is not a failure.
T ?=
SQLITE_MARKERS := not postgres and not worker and not browser
PYTEST := $(BIN)/pytest -p no:cacheprovider

.DEFAULT_GOAL := help
.PHONY: help check translations run test test-path test-all lint typecheck test-postgres test-sqlite services browsers venv bench bench-criteria bench-criteria-1m bench-v2 bench-v2-1m bench-pipeline bench-pipeline-1m bench-import bench-web bench-limits bench-limits-1m bench-two-hosts chaos clean

## List the targets and what each does.
help:
	@awk '/^## /{doc = substr($$0, 4); next} /^[a-zA-Z0-9_-]+:/{if (doc != "") {split($$1, t, ":"); printf "  make %-18s %s\n", t[1], doc}} {doc = ""}' $(MAKEFILE_LIST)


$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

## Create .venv and install Panel with the dev extras (again when pyproject.toml changes).
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

## Start PostgreSQL and Redis on loopback when they are not answering.
services:
	scripts/ensure-services.sh

## Install Chromium for the browser tests when it is missing.
browsers:
	scripts/ensure-chromium.sh

## ruff (lint, format check) and the import layers of pyproject.toml's [tool.importlinter].
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

## mypy over panel_service, workers and config.
typecheck: $(STAMP)
	$(BIN)/mypy

## The quick loop while editing (under a minute): lint, mypy, the unit tests (no services needed).
check: lint typecheck
	PANEL_TEST_DATABASE=sqlite $(PYTEST) -q tests/unit

## The whole suite on PostgreSQL (starts the services when needed).
test-postgres: $(STAMP) services
	PANEL_TEST_DATABASE=postgresql $(PYTEST)

## The embedded default: every test that does not need PostgreSQL-only parts, on SQLite.
test-sqlite: $(STAMP)
	PANEL_TEST_DATABASE=sqlite $(PYTEST) -m "$(SQLITE_MARKERS)" tests/unit tests/integration

# One file or folder on PostgreSQL, then on SQLite where it applies.
test-path: $(STAMP) services
	PANEL_TEST_DATABASE=postgresql $(PYTEST) $(T)
	PANEL_TEST_DATABASE=sqlite $(PYTEST) -m "$(SQLITE_MARKERS)" $(T) || test $$? -eq 5

test-all: $(STAMP) services browsers lint typecheck test-postgres test-sqlite

## Everything: install, services, lint, mypy, the suite on PostgreSQL and SQLite. T=path: one file or folder.
test: $(if $(T),test-path,test-all)

# The storm's size: CHAOS_VOLUNTEERS=2000 CHAOS_DURATION=30 for a short run.
CHAOS_VOLUNTEERS ?= 20000
CHAOS_DURATION ?= 200
## Panel's own crash storm, three seeds in a row on private PostgreSQL and Redis (about 4 minutes each).
chaos: $(STAMP)
	for seed in 1 2 3; do \
		$(BIN)/python -m tests.chaos.storm --seed $$seed --volunteers $(CHAOS_VOLUNTEERS) --duration $(CHAOS_DURATION) || exit 1; \
	done

## Benchmarks (figures go in docs/performance.md); the million-profile runs have their own targets.
bench: bench-criteria bench-pipeline bench-import

## Criteria evaluation against 100,000 profiles on both engines.
bench-criteria: $(STAMP) services
	$(BIN)/python -m bench.criteria_bench --profiles 100000

## Criteria evaluation against a million profiles on PostgreSQL.
bench-criteria-1m: $(STAMP) services
	$(BIN)/python -m bench.criteria_bench --profiles 1000000 --engine postgresql

## Profile version 2 (histories, answers, homes) at 100,000: the v2 study against its hand-written
## query, narrow/broad against hand-written and against codes as text[] + GIN (PostgreSQL).
bench-v2: $(STAMP) services
	$(BIN)/python -m bench.v2_bench --profiles 100000

## The same at a million profiles (loading takes about ten minutes).
bench-v2-1m: $(STAMP) services
	$(BIN)/python -m bench.v2_bench --profiles 1000000

## Matching and dispatch with one and two workers (100,000 profiles, 5,000 emails).
bench-pipeline: $(STAMP) services
	$(BIN)/python -m bench.pipeline_bench --profiles 100000 --workers 1 --workers 2 --emails 5000

## The pipeline benchmark at a million profiles.
bench-pipeline-1m: $(STAMP) services
	$(BIN)/python -m bench.pipeline_bench --profiles 1000000 --workers 1 --workers 2 --chunk-size 50000 --emails 3000

## `panel import profiles` of 100,000 volunteers into a fresh PostgreSQL database.
bench-import: $(STAMP) services
	$(BIN)/python -m bench.make_import_file 100000 /tmp/panel-import-100k.jsonl
	psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS panel_import_bench" -c "CREATE DATABASE panel_import_bench"
	DATABASE_URL=postgresql://postgres@127.0.0.1/panel_import_bench $(BIN)/panel db upgrade
	DATABASE_URL=postgresql://postgres@127.0.0.1/panel_import_bench /usr/bin/time -f "%e s wall, %M KiB peak" $(BIN)/panel import profiles /tmp/panel-import-100k.jsonl

## Panel's pages under gunicorn (2 workers, 8 clients) beside bare Flask baselines (bench/baselines/), 3 interleaved rounds.
bench-web: $(STAMP) services
	$(BIN)/python -m bench.web_bench --duration 10 --clients 8

## Every row of issue 15's table with its hand-built limit measured in the same run (small sizes).
bench-limits: $(STAMP) services
	$(BIN)/python -m bench.limits --small

## The same at the issue's size: 1,000,000 profiles, 100,000 import lines (PostgreSQL with shared_buffers 4GB as the issue measured; docs/performance.md).
bench-limits-1m: $(STAMP) services
	$(BIN)/python -m bench.limits --profiles 1000000 --import-lines 100000

# VOLUNTEERS=2000 for a short run; TWO_HOSTS_ARGS=--split-queues: a matching and a contact worker per host.
VOLUNTEERS ?= 100000
TWO_HOSTS_ARGS ?=
## Bulk match and sends shared by workers in two network namespaces ("hosts"); nothing lost or doubled.
bench-two-hosts: $(STAMP)
	$(BIN)/python -m bench.two_hosts --volunteers $(VOLUNTEERS) $(TWO_HOSTS_ARGS)

## Remove .venv, instance/ and the tool caches.
clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
