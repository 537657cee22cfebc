# CRAT — run `make help` for the list.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
VENV := .venv
LAMBDA_FUNCTIONS := builds auth test-items parameter-sets job-versions settings auto-sync meta

.PHONY: help run test test-deps lint fmt build-lambdas clean

help: ## List the targets
	@grep -E '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

run: ## Build and start CRAT in the embedded mode on http://localhost:8000
	$(CARGO) run -p local --bin crat

test: test-deps lint build-lambdas ## Install what the tests need, start their servers, run every test
	scripts/with-test-services.sh $(CARGO) test --workspace --all-targets
	scripts/walkthrough.sh

test-deps: $(VENV)/.installed ## Python tools for the tests (moto, cargo-lambda) in .venv

$(VENV)/.installed: requirements-test.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

lint: ## rustfmt and clippy, warnings are errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

build-lambdas: test-deps ## Build the Lambda bootstraps (debug) with cargo-lambda into target/lambda/
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) lambda build $(addprefix --bin ,$(LAMBDA_FUNCTIONS))

clean: ## Remove build output, the test venv and test logs (not ./data)
	$(CARGO) clean
	rm -rf $(VENV) .tmp
