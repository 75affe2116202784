# MagFlow — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench venv clean mutate

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/magflow demo

# Tests run in TEST_WORKERS processes (pytest-xdist): most of a test's time is spent waiting on
# the servers it talks to, so on 2 vCPUs two workers take about 60 % of the serial time and three
# about 80 % of two's. Each worker gets its own PostgreSQL database and SQLite files;
# TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 3
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Every benchmark of bench/ (BENCHMARKS.md), in about 5 minutes on 2 vCPUs (4 min 49 s measured): the
# slow ones run smaller than their defaults (sync_throughput, customers_endpoint); _common.py is a
# helper.
BENCH_ARGS_sync_throughput := --offers 10000 --orders 10000 --concurrency 8
BENCH_ARGS_customers_endpoint := --orders 200000 --customers 40000 --requests 100 --baseline-runs 3
# load.py at the goal (issue 8): the deployment topology, 200 req/s, 1,000 clients, 60 s (~1.7 min).
BENCH_ARGS_load := --topology deployment --rps 200 --clients 1000 --seconds 60
bench: $(STAMP)
	@for script in bench/*.py; do \
		name=$$(basename $$script .py); \
		case $$name in _*) continue;; esac; \
		case $$name in \
			sync_throughput) args="$(BENCH_ARGS_sync_throughput)";; \
			customers_endpoint) args="$(BENCH_ARGS_customers_endpoint)";; \
			load) args="$(BENCH_ARGS_load)";; \
			*) args="";; \
		esac; \
		echo "== $$script $$args"; $(BIN)/python $$script $$args || exit 1; \
	done

# Mutation score of the core modules (docs/testing.md), on demand and not in CI: mutmut runs per
# module against that module's own tests, installed into the venv on first use (not a dev extra:
# its UI toolkit would weigh on every install). Ends with one JSON line. MODULES="ratelimit auth"
# measures only those; MUTATE_ARGS="--children 1 --survivors" is passed on (scripts/mutate.py -h).
# Set MAGFLOW_TEST_REDIS_URL so the Redis variants (rate limiter, login throttle) are measured.
MUTMUT_VERSION := 3.8.1
mutate: $(STAMP)
	$(BIN)/python -m pip show mutmut 2>/dev/null | grep -qx 'Version: $(MUTMUT_VERSION)' || \
		$(BIN)/python -m pip install --quiet 'mutmut==$(MUTMUT_VERSION)'
	$(BIN)/python scripts/mutate.py $(foreach m,$(MODULES),--module $(m)) $(MUTATE_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
