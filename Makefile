# Two commands matter: `make up` (set up and start axops) and `make test` (set up and run every test);
# `make lint` runs the checks CI runs before the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_FLAGS := --disable-pip-version-check -q

.PHONY: up test lint setup moto web browser openapi lock bench bench-registry bench-datasets bench-gateway bench-guardrails bench-prompts bench-serving bench-training bench-tracking bench-eval bench-monitoring bench-ui bench-cluster clean

up: setup web
	$(BIN)/axops up

# Two pytest workers (pytest-xdist), each with its own database and live server: the suite is mostly
# waiting on HTTP, browsers and subprocesses, so two halve its time on a 2-core machine.
test: setup moto web browser
	$(BIN)/pytest -q -n 2
	cd web && npm run test

# Every static check CI runs before the tests: ruff lint and format, mypy, import contracts, vue-tsc, eslint, prettier.
lint: setup web/node_modules/.package-lock.json
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src/axops/core src/axops/auth
	$(BIN)/lint-imports
	cd web && npm run lint

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "axops needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/pip install $(PIP_FLAGS) -c constraints.txt -e '.[dev,runtime,k8s,reports]'
	touch $@

# moto's S3 server, the S3 the storage and backup tests talk to, in its own virtualenv (constraints-moto.txt says why).
moto: $(VENV)/moto/.installed

$(VENV)/moto/.installed: constraints-moto.txt | $(VENV)/.installed
	test -x $(VENV)/moto/bin/python || $(PYTHON) -m venv $(VENV)/moto
	$(VENV)/moto/bin/pip install $(PIP_FLAGS) -c constraints-moto.txt 'moto[server]'
	touch $@

web: web/dist/index.html

# npm ci writes node_modules/.package-lock.json, so the web's dependencies are reinstalled only when the lock changes.
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund

# The bundle only: `make lint` type-checks (vue-tsc), so the build does not do it a second time.
web/dist/index.html: web/node_modules/.package-lock.json $(shell find web/src web/index.html web/vite.config.ts -type f 2>/dev/null)
	cd web && npx vite build

# Debian packages the tests drive: Chromium (browser journeys), Alertmanager and promtool (alert delivery,
# the shipped Prometheus rules), redis-server (shared state across replicas), pango (PDF reports).
# Installed when one is missing and we may (root + apt).
DEBIAN_BINARIES = /usr/bin/chromium /usr/bin/prometheus-alertmanager /usr/bin/promtool /usr/bin/redis-server
DEBIAN_PACKAGES = chromium bubblewrap fonts-nanum prometheus-alertmanager prometheus redis-server libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
browser:
	@for b in $(DEBIAN_BINARIES); do [ -x $$b ] || missing=1; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null; \
		else echo "Missing test tools: apt-get install $(DEBIAN_PACKAGES)" >&2; exit 1; fi; \
	fi

# Regenerate the OpenAPI schema and the web UI's typed client after changing the API.
openapi: setup
	$(BIN)/axops openapi --output web/openapi.json
	cd web && npm run gen:api

# Re-pin every Python dependency after changing pyproject.toml.
lock: setup
	(echo "# Pinned versions for every install (pip install -c constraints.txt). Regenerate with \`make lock\`."; \
	 $(BIN)/pip freeze --exclude-editable | grep -v '^axops') > constraints.txt

bench: setup
	$(BIN)/python bench/api/run.py

bench-registry: setup
	$(BIN)/python bench/registry/run.py

bench-datasets: setup
	$(BIN)/python bench/pii/run.py
	$(BIN)/python bench/datasets/run.py

bench-gateway: setup
	$(BIN)/python bench/gateway/run.py

bench-guardrails: setup
	$(BIN)/python bench/guardrails/latency.py

bench-prompts: setup
	$(BIN)/python bench/prompts/run.py

bench-serving: setup
	$(BIN)/python bench/serving/run.py

bench-training: setup
	$(BIN)/python bench/training/run.py

bench-tracking: setup
	$(BIN)/python bench/tracking/run.py

bench-eval: setup
	$(BIN)/python bench/eval/metrics_bench.py

bench-monitoring: setup
	$(BIN)/python bench/monitoring/ingest.py
	$(BIN)/python bench/monitoring/rules.py
	$(BIN)/python bench/monitoring/delivery.py
	$(BIN)/python bench/monitoring/semantic_cache.py
	$(BIN)/python bench/monitoring/slos.py

bench-ui: setup web browser
	$(BIN)/python bench/ui/run.py

bench-cluster: setup
	$(BIN)/python bench/cluster/run.py

clean:
	rm -rf $(VENV) web/node_modules web/dist
