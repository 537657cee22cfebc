# CRAT — run `make help` for the list.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
VENV := .venv
LAMBDA_FUNCTIONS := builds auth test-items environments parameter-sets job-versions settings deploy-runs auto-sync sweeper download trigger poll finalize notify meta

.PHONY: help run install demo web openapi test test-cloud test-web test-deps java-runtime lint validate fmt build-lambdas bench clean build watch deploy

help: ## List the targets
	@grep -E '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

run: ## Build and start CRAT in the embedded mode on http://localhost:8000 (the site too, when npm is there)
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory web; else echo "make run: npm not found: serving the API only (make web builds the site)"; fi
	$(CARGO) run -p local --bin crat

PREFIX ?= /usr/local
install: web ## Build a release crat with the site inside it and install it as $(PREFIX)/bin/crat (PREFIX=/usr/local)
	$(CARGO) build --release --locked -p local --bin crat
	install -D -m 0755 target/release/crat $(DESTDIR)$(PREFIX)/bin/crat
	@echo "installed $(DESTDIR)$(PREFIX)/bin/crat ($$($(DESTDIR)$(PREFIX)/bin/crat --version)); README: Run it as a service"

web: web/node_modules/.installed ## Build the web site into web/dist (npm ci, type check, vite build)
	cd web && npm run build

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

/usr/bin/chromium:
	apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei

# Real nginx for the real-world scenario. Its postinst would start a system nginx on port
# 80 on a fresh VM: installed under a policy-rc.d that forbids starting services (an
# existing one is left alone), then stopped and disabled in case it started anyway.
/usr/sbin/nginx:
	apt-get update -qq
	own=0; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own=1; fi; \
	  rc=0; apt-get install -y -qq nginx-light || rc=$$?; \
	  if [ $$own = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$rc
	systemctl disable --now nginx >/dev/null 2>&1 || true
	if [ -s /run/nginx.pid ]; then /usr/sbin/nginx -s quit 2>/dev/null || true; fi

# A Java runtime for allure-commandline (checked on its own: nginx may already be there).
java-runtime:
	command -v java >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq default-jre-headless; }

test-web: web /usr/bin/chromium ## Site: dictionary check and browser tests in Chromium (screenshots in web/test-artifacts/)
	node web/scripts/dict-keys.mjs
	web/scripts/browser-test.sh

demo: ## Start CRAT with the dev peers (package server, test-server double) and seed a test item and a build
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory web; fi
	scripts/demo.sh

test: test-deps lint validate build-lambdas web /usr/bin/chromium /usr/sbin/nginx java-runtime ## Install what the tests need, start their servers, run every test
	CRAT_REQUIRE_NGINX=1 CRAT_REQUIRE_CHROMIUM=1 scripts/with-test-services.sh $(CARGO) test --workspace --all-targets
	python3 -m unittest devpeers/test_peers.py bench/test_dynamo_meter.py
	scripts/walkthrough.sh
	scripts/schemathesis.sh
	CARGO=$(CARGO) scripts/cloud-fidelity.sh
	node web/scripts/dict-keys.mjs
	web/scripts/browser-test.sh

test-cloud: test-deps ## Cloud fidelity: moto's Step Functions runs the ASL against the Lambda binaries (cargo lambda watch), compared with the embedded executor
	CARGO=$(CARGO) scripts/cloud-fidelity.sh

test-deps: $(VENV)/.installed node_modules/.installed ## Test tools: moto, cargo-lambda, pytest and allure-pytest in .venv; asl-validator, allure-commandline (Allure 2) and allure (Allure 3) in node_modules

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


/usr/bin/wrk:
	apt-get update -qq && apt-get install -y -qq wrk

bench: test-deps /usr/bin/wrk ## Benchmarks (not tests), one table from one run: HTTP (wrk vs a no-op axum), download vs curl, Lambda sizes (README, Benchmarks)
	bench/bench.sh

fmt: ## Format the code
	$(CARGO) fmt --all

# Test bootstraps go to target/lambda-debug/, NOT target/lambda/ (where infra/template.yaml's
# CodeUris point): they are built for this machine (x86-64, debug), and a raw `sam deploy`
# must never ship them to the template's arm64 functions. Only `make build` fills target/lambda/.
build-lambdas: test-deps ## Build the Lambda bootstraps (debug, this machine's CPU) for the tests into target/lambda-debug/
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) lambda build --lambda-dir target/lambda-debug $(addprefix --bin ,$(LAMBDA_FUNCTIONS))

clean: ## Remove build output, the test venv and test logs (not ./data)
	$(CARGO) clean
	rm -rf $(VENV) .tmp node_modules web/node_modules web/dist web/test-artifacts

# --- Lambda on AWS: infra/template.yaml (README "Deploy to AWS") ---------------------------
LAMBDA_ARCH ?= arm64
STACK ?= crat
SAM ?= sam
AWS ?= aws
WATCH_PORT ?= 9000
WATCH_MOTO_PORT ?= 5000
WATCH_ENV ?= infra/watch.env

build: test-deps ## Release bootstraps (profile lambda: small) for AWS into target/lambda/ (LAMBDA_ARCH=arm64, the default, or x86_64)
	@case "$(LAMBDA_ARCH)" in arm64|x86_64) ;; *) echo "LAMBDA_ARCH must be arm64 or x86_64" >&2; exit 1;; esac
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) lambda build --profile lambda $(if $(filter x86_64,$(LAMBDA_ARCH)),--x86-64,--arm64) $(addprefix --bin ,$(LAMBDA_FUNCTIONS))

watch: test-deps ## Every function under cargo lambda watch on 127.0.0.1:9000 (WATCH_PORT), with moto as the table (infra/watch.env)
	@mkdir -p .tmp/logs
	@$(VENV)/bin/python scripts/moto_server.py 127.0.0.1 $(WATCH_MOTO_PORT) >.tmp/logs/watch-moto.log 2>&1 & moto=$$!; \
	trap 'kill $$moto 2>/dev/null' EXIT INT TERM; \
	echo "moto on 127.0.0.1:$(WATCH_MOTO_PORT) (.tmp/logs/watch-moto.log); functions on 127.0.0.1:$(WATCH_PORT): make invoke-<fn>"; \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) lambda watch --invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT) \
	  --env-file $(WATCH_ENV) --env-var AWS_ENDPOINT_URL=http://127.0.0.1:$(WATCH_MOTO_PORT)

LAMBDA_INVOKE = PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) lambda invoke --invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT)

invoke-%: ## Send functions/<fn>/events/*.json to make watch (EVENT=<name>: one file; a user token is fetched unless TOKEN=<jwt>)
	@files="$(if $(EVENT),functions/$*/events/$(EVENT).json,$(wildcard functions/$*/events/*.json))"; \
	[ -n "$$files" ] || { echo "no sample events under functions/$*/events/" >&2; exit 1; }; \
	rc=0; for f in $$files; do \
	  echo "== $$f"; data=$$(cat "$$f"); \
	  if grep -q __CRAT_TOKEN__ "$$f"; then \
	    token="$(TOKEN)"; \
	    [ -n "$$token" ] || token=$$($(LAMBDA_INVOKE) auth --data-file functions/auth/events/login.json | sed -n 's/.*\\"token\\":\\"\([^\\]*\)\\".*/\1/p'); \
	    data=$$(printf '%s' "$$data" | sed "s|__CRAT_TOKEN__|$$token|g"); \
	  fi; \
	  $(LAMBDA_INVOKE) $* --data-ascii "$$data" || rc=$$?; echo; \
	done; exit $$rc

openapi: ## Regenerate functions/meta/openapi.json (what meta serves) from the routers' annotations; commit it
	CRAT_WRITE_OPENAPI=1 $(CARGO) test -p local --test api openapi::the_checked_in_document_is_what_the_routers_document

validate: $(VENV)/.installed node_modules/.installed ## Lint the SAM template and the state machine; check the template against the code
	$(VENV)/bin/cfn-lint infra/template.yaml
	npx --no-install asl-validator --json-path statemachine/deploy_test.asl.json
	$(CARGO) test -p shared --test integration template_schema::
	$(CARGO) test -p local --test api template_routes::
	@if command -v $(SAM) >/dev/null 2>&1; then cd infra && SAM_CLI_TELEMETRY=0 $(SAM) validate --lint; \
	else echo "sam not installed: sam validate --lint skipped (cfn-lint ran)"; fi

deploy: build web ## Deploy to AWS with SAM (guided the first time, or GUIDED=1), then upload web/dist to the site bucket
	@command -v $(SAM) >/dev/null 2>&1 || { echo "sam (AWS SAM CLI) is needed: README, Deploy to AWS" >&2; exit 1; }
	@command -v $(AWS) >/dev/null 2>&1 || { echo "aws (AWS CLI) is needed: README, Deploy to AWS" >&2; exit 1; }
	@saved=$$(grep -o 'Architecture=[^ ]*' infra/samconfig.toml | tr -dc 'a-z0-9_=' | cut -d= -f2); \
	if [ -n "$$saved" ] && [ "$$saved" != "$(LAMBDA_ARCH)" ]; then \
	  echo "infra/samconfig.toml deploys Architecture=$$saved, but this build is LAMBDA_ARCH=$(LAMBDA_ARCH): make deploy LAMBDA_ARCH=$$saved" >&2; exit 1; \
	fi
	cd infra && if [ -z "$(GUIDED)" ] && $(AWS) cloudformation describe-stacks --stack-name $(STACK) >/dev/null 2>&1; then \
	  SAM_CLI_TELEMETRY=0 $(SAM) deploy --stack-name $(STACK); \
	else \
	  SAM_CLI_TELEMETRY=0 $(SAM) deploy --guided --stack-name $(STACK) --parameter-overrides Architecture=$(LAMBDA_ARCH); \
	fi
	@out() { $(AWS) cloudformation describe-stacks --stack-name $(STACK) --query "Stacks[0].Outputs[?OutputKey=='$$1'].OutputValue" --output text; }; \
	bucket=$$(out SiteBucketName); dist=$$(out DistributionId); \
	if [ -f web/dist/index.html ]; then \
	  $(AWS) s3 sync web/dist "s3://$$bucket/" --delete && echo "site uploaded to s3://$$bucket"; \
	  if [ -n "$$dist" ] && [ "$$dist" != "None" ]; then $(AWS) cloudfront create-invalidation --distribution-id "$$dist" --paths '/*' >/dev/null; fi; \
	else echo "web/dist/index.html not found: build the site, then make deploy again to upload it" >&2; fi
	@$(AWS) cloudformation describe-stacks --stack-name $(STACK) --query "Stacks[0].Outputs" --output table
