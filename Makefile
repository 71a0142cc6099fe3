# GridLoop developer entry points. Everything runs as local processes (no Docker engine needed).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install deps up down status demo test unit quick shuffle clock-check bench bench-tracing capacity soak chaos lint clean infra model

DEPS_STAMP := .gridloop/.deps-installed

install: $(STAMP)

# System packages (Java, Maven, PostgreSQL 15, Prometheus, ...) and the Kafka jars; re-run when the script changes.
deps: $(DEPS_STAMP)

$(DEPS_STAMP): deploy/local/install-deps.sh deploy/kafka/pom.xml
	bash deploy/local/install-deps.sh
	@mkdir -p $(dir $@) && touch $@

$(STAMP): pyproject.toml $(DEPS_STAMP)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

up: install
	$(BIN)/gridloop stack up

infra: install
	$(BIN)/gridloop stack up --infra-only

down:
	$(BIN)/gridloop stack down

status:
	$(BIN)/gridloop stack status

# ruff everywhere; mypy strict on gridloop/{contracts,delivery,auth,servicekit,ops} and the services' handlers, routes
# and queries ([tool.mypy] files).
lint: install
	$(BIN)/ruff check gridloop services tests
	$(BIN)/mypy

# The shipped classifier, trained once and cached in .gridloop/cache (about a minute on a fresh clone; a no-op once
# cached). The suites depend on it so that no service start-up inside a test trains a model under a test's timeout.
model: install
	@$(BIN)/python -c 'from gridloop.admission.classifier import default_classifier as m; print("classifier ready:", m().model_version)'

# The whole test suite: unit tests, then integration and end-to-end tests on the real Kafka and PostgreSQL
# (the suite starts them itself if they are down).
test: model
	$(BIN)/pytest -p no:cacheprovider

unit: model
	$(BIN)/pytest -p no:cacheprovider tests/unit

# Everything but the chaos test (which restarts the broker and takes minutes): the quick loop while developing.
quick: model
	$(BIN)/pytest -p no:cacheprovider -m "not chaos"

# The suite in a random order (pytest-randomly); SEED=N repeats an order it printed. Order dependence shows here.
shuffle: model
	$(BIN)/pytest -p no:cacheprovider -p randomly $(if $(SEED),--randomly-seed=$(SEED),) -m "not chaos"

# The notify and departments suites at the edges of quiet hours (22:00-08:00 Chengdu): no test may depend on the hour.
CLOCK_SUITES := tests/unit/test_notify_* tests/unit/test_departments_* tests/integration/test_notify_* tests/integration/test_departments_*
clock-check: model
	@for hhmm in 07:59 08:00 21:59 22:00; do \
	  echo "== wall clock at $$hhmm Asia/Shanghai"; \
	  GRIDLOOP_TEST_LOCAL_TIME=$$hhmm $(BIN)/pytest -p no:cacheprovider -q $(CLOCK_SUITES) || exit 1; \
	done

# The main job: bring the stack up and replay a realistic day of grid reports through it.
demo: install
	$(BIN)/gridloop demo

# Speed on this machine against its ceilings (starts the stack if it is down). Not a test: never timed in CI.
# BENCH_ARGS="--quick" for a short try; results and a latency plot land in bench/results/.
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# What tracing costs: the services' CPU per report with tracing off, sampled 100 % and sampled 1 %, in alternating
# runs on services of its own (ports 18401-18404, own topics and databases). TRACING_ARGS="--rounds 3" to vary.
bench-tracing: install
	$(BIN)/python -m bench.tracing $(TRACING_ARGS)

# Where capacity goes: live, intake alone, catch-up in big batches; CPU per report for each (docs/benchmarks.md).
capacity: install
	$(BIN)/python -m bench.capacity $(CAPACITY_ARGS)

# An hour (or SOAK_ARGS="--minutes 180") at 50 reports/s with the retention jobs running: flat latency, memory per
# service and table sizes (docs/operations.md). Not in CI. Uses the stack on the usual ports (starts it if down).
soak: install
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

# The full chaos test: 10,000 reports while every service is SIGKILLed several times and the broker and PostgreSQL
# restart (docs/delivery.md). It restarts the broker and PostgreSQL it runs on: give it its own with GRIDLOOP_HOME,
# GRIDLOOP_KAFKA_PORT, GRIDLOOP_KAFKA_CONTROLLER_PORT, GRIDLOOP_PG_CLUSTER and GRIDLOOP_PG_PORT. CHAOS_ARGS to vary.
chaos: install
	$(BIN)/gridloop chaos $(CHAOS_ARGS)

clean: down
	rm -rf .gridloop
