# CRAT — run `make help` for the list.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
VENV := .venv
LAMBDA_FUNCTIONS := builds auth test-items parameter-sets job-versions settings deploy-runs auto-sync sweeper download trigger poll finalize notify meta

.PHONY: help run demo web test test-cloud test-web test-deps lint validate fmt build-lambdas bench clean

help: ## List the targets
	@grep -E '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

run: ## Build and start CRAT in the embedded mode on http://localhost:8000 (the site too, when npm is there)
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory web; else echo "make run: npm not found: serving the API only (make web builds the site)"; fi
	$(CARGO) run -p local --bin crat

web: web/node_modules/.installed ## Build the web site into web/dist (npm ci, type check, vite build)
	cd web && npm run build

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

/usr/bin/chromium:
	apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei

test-web: web /usr/bin/chromium ## Site: dictionary check and browser tests in Chromium (screenshots in web/test-artifacts/)
	node web/scripts/dict-keys.mjs
	web/scripts/browser-test.sh

demo: ## Start CRAT with the dev peers (package server, test-server double) and seed a test item and a build
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory web; fi
	scripts/demo.sh

test: test-deps lint validate build-lambdas web /usr/bin/chromium ## Install what the tests need, start their servers, run every test
	scripts/with-test-services.sh $(CARGO) test --workspace --all-targets
	python3 -m unittest devpeers/test_peers.py
	scripts/walkthrough.sh
	CARGO=$(CARGO) scripts/cloud-fidelity.sh
	node web/scripts/dict-keys.mjs
	web/scripts/browser-test.sh

test-cloud: test-deps ## Cloud fidelity: moto's Step Functions runs the ASL against the Lambda binaries (cargo lambda watch), compared with the embedded executor
	CARGO=$(CARGO) scripts/cloud-fidelity.sh

test-deps: $(VENV)/.installed node_modules/.installed ## Test tools: moto and cargo-lambda in .venv, asl-validator in node_modules

$(VENV)/.installed: requirements-test.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: ## rustfmt and clippy, warnings are errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

validate: node_modules/.installed ## Check the state machine definition with asl-validator (the Rust lints run in make test)
	npx --no-install asl-validator --json-path statemachine/deploy_test.asl.json

bench: ## Benchmarks (not tests): download throughput and memory vs curl
	bench/download.sh

fmt: ## Format the code
	$(CARGO) fmt --all

build-lambdas: test-deps ## Build the Lambda bootstraps (debug) with cargo-lambda into target/lambda/
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) lambda build $(addprefix --bin ,$(LAMBDA_FUNCTIONS))

clean: ## Remove build output, the test venv and test logs (not ./data)
	$(CARGO) clean
	rm -rf $(VENV) .tmp node_modules web/node_modules web/dist web/test-artifacts
