PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run test test-fast chromium clean

# Each stamp is rebuilt whenever its requirements change: `make run` installs only what running
# needs (a first run is quicker), `make test` adds the test tools.
$(VENV)/.run-installed: requirements.txt requirements-run.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip<26.3"  # chalice 1.34 requires pip<26.3
	$(PY) -m pip install -q -r requirements-run.txt
	touch $@

$(VENV)/.installed: $(VENV)/.run-installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

run: $(VENV)/.run-installed
	$(PY) -m localserver --host $(HOST) --port $(PORT) --data-dir .local

# Browser tests drive Debian's Chromium; Playwright never downloads a browser.
chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

test: $(VENV)/.installed chromium
	$(PY) -m pytest -q tests
	@if [ -d tests/browser/js ]; then node --test tests/browser/js/; fi

# While working: the rules and the shapes, in process on moto (unit + integration), in well under a minute.
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q tests/unit tests/integration

clean:
	rm -rf $(VENV) test-output

# -- AWS (docs/deploy.md) ------------------------------------------------------------
STAGE ?= dev
BUILD_DIR ?= infra/build/$(STAGE)

.PHONY: package deploy destroy

# The deployable stack in $(BUILD_DIR) (sam.json + deployment.zip); no AWS account needed.
# Runs `chalice package --stage $(STAGE) --merge-template infra/resources.json $(BUILD_DIR)`, which
# declares the stack, and adds the stage's secret name and the WebSocket deployment (infra/build_template.py).
package: $(VENV)/.installed
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(PY) infra/build_template.py --stage $(STAGE) --out $(BUILD_DIR)

# Needs AWS credentials. Extra stack parameters: make deploy STAGE=prod DEPLOY_ARGS="--parameter RestThrottleRateLimit=200"
deploy: package
	$(PY) infra/deploy.py deploy --stage $(STAGE) --build-dir $(BUILD_DIR) $(DEPLOY_ARGS)

# Deletes the stack; the tables it keeps (users, rooms, messages) only after a typed confirmation.
destroy: $(VENV)/.installed
	$(PY) infra/deploy.py destroy --stage $(STAGE) $(DEPLOY_ARGS)

# -- Benchmarks (docs/performance.md) --------------------------------------------------
.PHONY: bench

# Prints one JSON object per benchmark and writes bench/results/latest.json; exits 1 when a
# target is missed. One benchmark: make bench BENCH="calls"; the smoke size: BENCH_SIZE=tiny.
BENCH ?=
BENCH_SIZE ?= full
bench: $(VENV)/.installed
	$(PY) -m bench $(BENCH) --size $(BENCH_SIZE)

# -- Reliability (docs/reliability.md) -------------------------------------------------
.PHONY: soak

# The reconnect soak at full size (100 cycles, ~2 minutes) and the WebSocket fuzzer at 3x
# its make-test size; make test runs both small. SOAK_CYCLES=500 make soak for longer.
SOAK_CYCLES ?= 100
soak: $(VENV)/.installed
	SOAK_CYCLES=$(SOAK_CYCLES) FUZZ_BATCHES=900 $(PY) -m pytest -q -s -p no:cacheprovider -o timeout=1200 \
		tests/reliability/test_reconnect_soak.py tests/reliability/test_ws_fuzz.py
