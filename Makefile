# Two commands: `make run` (the console locally) and `make test` (the whole suite).
# Both create .venv with Python 3.12 and install what they need first.

PYTHON ?= $(shell scripts/find-python)
VENV := .venv
PY := $(VENV)/bin/python
# pip warns about the machine's optional extra indexes; the noise hides real messages.
PIP := $(PY) -m pip --disable-pip-version-check -qq

.PHONY: run test lint topology install lock reference-test clean bench-approvals bench-live bench-redrive bench-redrive-crash bench-ingest bench-worker package deploy-local bench-lambda bench-websockets bench-webhooks

# .venv holds the lock files (requirements*.txt: exact versions with hashes, written by
# `make lock` from requirements*.in), installed by uv, or by pip with INSTALLER=pip
# (scripts/install-locked). make run needs the development set; make test also the browser
# set (Playwright), the benchmarks theirs.
INSTALLER ?= uv
export INSTALLER
$(VENV)/.installed: requirements.txt requirements-worker.txt requirements-dev.txt requirements-uv.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@scripts/install-locked $(PY) requirements-dev.txt
	@$(PY) -c "import django, rest_framework, moto, celery, pytest"
	@touch $@

$(VENV)/.installed-browser: requirements-browser.txt $(VENV)/.installed
	@scripts/install-locked $(PY) requirements-browser.txt
	@touch $@

$(VENV)/.installed-bench: requirements-bench.txt $(VENV)/.installed
	@scripts/install-locked $(PY) requirements-bench.txt
	@touch $@

# What make test needs.
install: $(VENV)/.installed $(VENV)/.installed-browser

# Every requirements*.in compiled into its lock, each set constrained by the one it extends
# so that a package has one version in all of them. Versions already locked are kept:
# LOCK_ARGS="--upgrade-package botocore" (or --upgrade) moves them.
LOCK := $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.12 --generate-hashes --native-tls --custom-compile-command "make lock" $(LOCK_ARGS)
lock: $(VENV)/.installed
	@$(PIP) install --require-hashes -r requirements-uv.txt
	$(LOCK) -o requirements.txt requirements.in
	$(LOCK) -c requirements.txt -o requirements-worker.txt requirements-worker.in
	$(LOCK) -c requirements-worker.txt -o requirements-dev.txt requirements-dev.in
	$(LOCK) -c requirements-dev.txt -o requirements-browser.txt requirements-browser.in
	$(LOCK) -c requirements-dev.txt -o requirements-bench.txt requirements-bench.in
	$(LOCK) -c requirements-dev.txt -o requirements-mutate.txt requirements-mutate.in
	$(LOCK) -o requirements-uv.txt requirements-uv.in

# What AWS runs: the local AWS, the API and worker functions, the console. CELERY_WORKER=1
# runs the jobs queue with a Celery worker process instead of the worker function.
run: $(VENV)/.installed
	$(PY) -m console.devtools.devstack $(if $(filter-out 0,$(CELERY_WORKER)),--celery-worker)

# The suite runs in TEST_WORKERS pytest-xdist workers (each with its own local AWS, consumer
# and test database; 0 runs it in this process). The IAM policy tests then read the AWS calls
# every worker recorded (tests/on_lambda/conftest.py).
TEST_WORKERS ?= 2

test: $(VENV)/.installed $(VENV)/.installed-browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo
	$(PY) -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS)) $(PYTEST_ARGS)
	$(if $(filter-out 0,$(TEST_WORKERS)),OPS_AWS_CALLS_KEEP=1 $(PY) -m pytest tests/on_lambda/test_iam_policy.py)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo
	$(VENV)/bin/cfn-lint

# Every queue, consumer and schedule of zappa_settings.json against infra/template.yaml
# (STAGE=dev): prints the table, exits 1 on a problem.
topology: $(VENV)/.installed
	$(PY) -m infra.topology --stage $(STAGE)

# The reference architecture's integration tests (tests/reference), as written, against a running `make run`.
reference-test: $(VENV)/.installed
	$(PY) -m pytest tests/reference --reference-live-server=http://127.0.0.1:8000 -p no:cacheprovider

clean:
	rm -rf $(VENV) .local .lambda .test-db.sqlite3* staticfiles

# Approval benchmarks (docs/benchmarks.md): decision latency, and the race on PostgreSQL.
bench-approvals: $(VENV)/.installed
	$(PY) bench/approval_latency.py
	$(PY) bench/approval_race.py

# --- Orders at a million rows: benchmarks on PostgreSQL (docs/benchmarks.md) -------------
# make bench-load once (1,000,000 orders), then any of the others; each prints its figures.
# Its own database: the approval race benchmark flushes the one it is given.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ops_bench_orders
.PHONY: bench-load bench-api bench-changelist bench-events bench-export

# Live pages (docs/benchmarks.md): requests per minute of an idle open page, bytes per poll.
bench-live: $(VENV)/.installed-browser
	$(PY) bench/live_pages.py $(BENCH_ARGS)
	$(PY) bench/live_decision.py

bench-load: $(VENV)/.installed
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) -m bench.load_orders

bench-api: $(VENV)/.installed
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) -m bench.api_list

bench-changelist: $(VENV)/.installed
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) -m bench.changelist

bench-events: $(VENV)/.installed
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) -m bench.event_contention

bench-export: $(VENV)/.installed
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) -m bench.export

# Dead-letter redrive benchmarks (docs/benchmarks.md); DATABASE_URL picks the database.
bench-redrive: $(VENV)/.installed
	$(PY) bench/redrive.py $(BENCH_ARGS)

bench-redrive-crash: $(VENV)/.installed
	$(PY) bench/redrive_crash.py $(BENCH_ARGS)

# Order CSV ingestion benchmark (docs/benchmarks.md): 1,000,000 rows from the local S3 into
# PostgreSQL beside psql \copy, peak memory at two sizes, and django-import-export.
# Its own database: the benchmark flushes the one it is given.
INGEST_BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ops_bench_ingest
bench-ingest: $(VENV)/.installed-bench
	$(PY) bench/csv_ingest.py --database-url $(INGEST_BENCH_DATABASE_URL)

# --- Running on Lambda --------------------------------------------------------------------
# The Lambda packages of a stage (STAGE=dev), one per function: the API function's and the
# worker's, .lambda/ops-console-$(STAGE).zip and .lambda/ops-console-$(STAGE)-worker.zip.
# The runtime lock only, as manylinux wheels of the stage's architecture (arm64), static
# files and bytecode inside; prints sizes and the platform check. ARCHITECTURE=x86_64 builds
# for that architecture instead (what runs the package on an x86_64 machine needs).
STAGE ?= dev
package: $(VENV)/.installed
	$(PY) -m infra.package --stage $(STAGE) --python $(PYTHON) $(if $(ARCHITECTURE),--architecture $(ARCHITECTURE))

# The deploy of a stage (docs/deploying.md) rehearsed against a local AWS it starts (moto): the
# resources stack, the secrets, make package, zappa deploy of both functions; then checks what
# they made and says what the local AWS cannot do. KEEP=1 leaves the local AWS running afterwards.
deploy-local: $(VENV)/.installed
	$(PY) -m infra.rehearse --stage $(STAGE) $(if $(filter-out 0,$(KEEP)),--keep)

# The worker function's long jobs at the promised sizes (1,000,000-row import, 1,000,000-order
# export, 2,000-message redrive) on the local stack as deployed, with KILL=1 a second run of each
# with the consumer killed halfway (docs/benchmarks.md, "Jobs on the worker function").
WORKER_BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ops_bench_worker
bench-worker: $(VENV)/.installed
	$(PY) -m bench.worker_jobs --database-url $(WORKER_BENCH_DATABASE_URL) $(if $(filter-out 0,$(KILL)),--kill)

# Workflow starts against a 30 s burst of 25 orders/s on the local stack as deployed, then the
# same burst with the consumer killed halfway, beside moto's own StartExecution rate
# (docs/benchmarks.md, "Workflow starts").
STARTS_BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ops_bench_starts
.PHONY: bench-starts
bench-starts: $(VENV)/.installed
	$(PY) -m bench.workflow_starts --database-url $(STARTS_BENCH_DATABASE_URL) $(BENCH_ARGS)

# Webhook delivery on the local stack: delay from a status change to the receiver's 2xx
# over 1,000 changes, the retry schedule, a consumer SIGKILL (docs/benchmarks.md, "Webhooks").
WEBHOOKS_BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ops_bench_webhooks
bench-webhooks: $(VENV)/.installed
	$(PY) -m bench.webhooks --database-url $(WEBHOOKS_BENCH_DATABASE_URL) $(BENCH_ARGS)

# Cold start and warm invocations of the package against a bare Django + Zappa hello-world,
# package size and import profile (docs/benchmarks.md, "Cold start on Lambda"), on this
# PostgreSQL database:
LAMBDA_BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ops_bench_lambda
bench-lambda: $(VENV)/.installed
	$(PY) -m bench.cold_start --database-url $(LAMBDA_BENCH_DATABASE_URL)

# WebSocket pushes: 200 clients on the local gateway of the WebSocket API, each receiving its
# own orders' status changes and none of the others', and the push delay (docs/benchmarks.md,
# "WebSocket pushes"), on this PostgreSQL database:
WEBSOCKETS_BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ops_bench_websockets
bench-websockets: $(VENV)/.installed
	$(PY) -m bench.websockets --database-url $(WEBSOCKETS_BENCH_DATABASE_URL) $(BENCH_ARGS)

# --- Mutation testing (docs/contributors/how-to.md, "Mutation testing"; not CI) -----------
# mutmut on the modules where a bug costs money or loses data (scripts/mutate.py says how);
# prints each module's score. Its own test database.
MUTATE_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ops_mutate
.PHONY: mutate
$(VENV)/.mutmut-installed: requirements-mutate.txt $(VENV)/.installed
	@scripts/install-locked $(PY) requirements-mutate.txt
	@touch $@

mutate: $(VENV)/.mutmut-installed
	rm -rf mutants
	DATABASE_URL=$(MUTATE_DATABASE_URL) $(PY) scripts/mutate.py
