# The two commands a newcomer needs:
#   make run    set up (once) and run the default pipeline  (`kedro run`)
#   make test   set up (once) and run the whole test suite (make test-fast: the unit tests)
# Set-up creates .venv, installs torch first (the CPU build unless an NVIDIA GPU is present), then
# exactly requirements.lock (hashed) and the project in editable mode. It reruns only when
# pyproject.toml or requirements.lock changes.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_PIN := $(shell grep -o '"torch==[^"]*"' pyproject.toml | tr -d '"')
# On a machine without an NVIDIA GPU, look for torch's CPU build first (PyPI's Linux wheel is the
# multi-GB CUDA one). Override with TORCH_INDEX= to use PyPI alone.
TORCH_INDEX ?= $(if $(shell command -v nvidia-smi 2>/dev/null),,https://download.pytorch.org/whl/cpu)
PYTEST_ARGS ?=

.PHONY: install lock run retrain test test-fast cluster-up cluster-down lint format mlflow-ui viz jupyter strip-notebooks audit benchmark-data benchmark-training benchmark-tuning benchmark-serving benchmark-batch-inference benchmark-drift benchmark-retrain clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is needed, found " + sys.version' 
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)" \
		$(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX) --retries 0 --timeout 10)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	$(BIN)/python -m pip check
	@touch $@

# requirements.lock: every package of the project and its dev extra, pinned with hashes, torch
# aside (installed first, for the machine: CPU or CUDA). After changing pyproject.toml's
# dependencies, `make lock` re-resolves it (pip-tools) and `make install` installs exactly it.
lock: install
	$(BIN)/pip-compile --quiet --generate-hashes --extra dev --strip-extras \
		--unsafe-package torch --no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock pyproject.toml

run: install
	$(BIN)/kedro run

# Continuous training: new labelled CSVs in data/01_raw/incoming/ merged into the training data,
# a challenger trained and evaluated against the champion, promoted only if it beats it
# (data/08_reporting/comparison.md says why; docs/monitoring.md#continuous-training).
retrain: install
	$(BIN)/kedro run --pipelines=continuous_training

# The whole suite, printing its 25 slowest tests.
test: install
	$(BIN)/python -m pytest --durations=25 $(PYTEST_ARGS)

# Everyday work: the unit tests, without Ray, kedro runs, servers or the real data (~3 min: 651 tests in 171-173 s here).
test-fast: install
	$(BIN)/python -m pytest -m "not slow" -q $(PYTEST_ARGS)

audit: install
	bash .ci/audit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

mlflow-ui: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/kedro mlflow ui

viz: install
	$(BIN)/kedro viz run --host 127.0.0.1 --port 4141

jupyter: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/kedro jupyter lab

# Notebooks are committed without outputs (a test checks it).
strip-notebooks: install
	$(BIN)/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

benchmark-training: install
	$(BIN)/python benchmarks/training.py quality
	$(BIN)/python benchmarks/training.py overhead --num-epochs 3

benchmark-tuning: install
	$(BIN)/python benchmarks/tuning.py --train-best

benchmark-serving: install
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/request_log.py
	$(BIN)/python benchmarks/precision.py
	$(BIN)/python benchmarks/champion_follow.py
	$(BIN)/python benchmarks/attacks.py

benchmark-data: install
	$(BIN)/python benchmarks/data_processing.py

benchmark-batch-inference: install
	$(BIN)/python benchmarks/batch_inference.py
	$(BIN)/python benchmarks/long_text.py

# Continuous training on the real data: a better challenger promoted, a worse one refused.
benchmark-retrain: install
	$(BIN)/python benchmarks/continuous_training.py

# After `make run`: false alarms and detected shifts of the monitoring pipeline's drift tests.
benchmark-drift: install
	$(BIN)/python benchmarks/drift_detection.py

# A two-node Ray cluster on this machine (a head and a second node, each its own raylet, one CPU
# each) and an MLflow tracking server; docs/scaling-out.md. Then, in another shell:
#   RAY_ADDRESS=127.0.0.1:$(CLUSTER_RAY_PORT) MLFLOW_TRACKING_URI=http://127.0.0.1:$(CLUSTER_MLFLOW_PORT) \
#     kedro run -e cluster --pipelines=training
CLUSTER_DIR ?= $(CURDIR)/.cluster
CLUSTER_RAY_PORT ?= 6390
CLUSTER_MLFLOW_PORT ?= 5055
cluster-up: install
	mkdir -p $(CLUSTER_DIR)
	@# Token authentication (Ray's default): the token, this user's only, in ~/.ray/auth_token.
	$(BIN)/python -c 'from madewithml.framework.ray_runtime import private_auth_token as t; t()'
	@# The HTTP limits of conf/base/serving.yml for Serve's proxy on either node (docs/serving.md#http-limits).
	env $$($(BIN)/python -m madewithml.serving.framing conf/base/serving.yml) \
	RAY_AUTH_MODE=token $(BIN)/ray start --head --port=$(CLUSTER_RAY_PORT) --num-cpus=1 --include-dashboard=true \
		--dashboard-port=8266 --disable-usage-stats
	env $$($(BIN)/python -m madewithml.serving.framing conf/base/serving.yml) \
	RAY_AUTH_MODE=token $(BIN)/ray start --address=127.0.0.1:$(CLUSTER_RAY_PORT) --num-cpus=1 \
		--node-manager-port=6391 --object-manager-port=6392 --metrics-export-port=6393 \
		--dashboard-agent-listen-port=6394 --dashboard-agent-grpc-port=6395 \
		--runtime-env-agent-port=6396 --min-worker-port=20000 --max-worker-port=20999 \
		--disable-usage-stats
	PATH="$(abspath $(BIN)):$$PATH" nohup $(BIN)/mlflow server --host 127.0.0.1 \
		--port $(CLUSTER_MLFLOW_PORT) --workers 1 \
		--backend-store-uri sqlite:///$(CLUSTER_DIR)/mlflow.db \
		--artifacts-destination $(CLUSTER_DIR)/artifacts > $(CLUSTER_DIR)/mlflow.log 2>&1 & \
		echo $$! > $(CLUSTER_DIR)/mlflow.pid
	$(BIN)/ray status --address=127.0.0.1:$(CLUSTER_RAY_PORT)
	@echo "Ray: RAY_ADDRESS=127.0.0.1:$(CLUSTER_RAY_PORT) (dashboard http://127.0.0.1:8266)"
	@echo "MLflow: MLFLOW_TRACKING_URI=http://127.0.0.1:$(CLUSTER_MLFLOW_PORT) (log: $(CLUSTER_DIR)/mlflow.log)"

# Stops both nodes (`ray stop` stops every Ray of this machine) and the tracking server.
cluster-down:
	-$(BIN)/ray stop
	-test -f $(CLUSTER_DIR)/mlflow.pid && kill $$(cat $(CLUSTER_DIR)/mlflow.pid) && rm $(CLUSTER_DIR)/mlflow.pid

clean:
	rm -rf $(VENV)
