# The two commands a newcomer needs:
#   make run    set up (once) and run the default pipeline  (`kedro run`)
#   make test   set up (once) and run the whole test suite
# Set-up creates .venv, installs torch first (the CPU build unless an NVIDIA GPU is present), then
# the project in editable mode. It reruns only when pyproject.toml changes.

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

export KEDRO_DISABLE_TELEMETRY ?= true
export RAY_AUTH_MODE ?= disabled

.PHONY: install run test lint format mlflow-ui viz jupyter strip-notebooks audit benchmark-data benchmark-training benchmark-tuning benchmark-serving clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is needed, found " + sys.version' 
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)" \
		$(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX) --retries 0 --timeout 10)
	$(BIN)/python -m pip install --quiet --editable ".[dev]"
	@touch $@

run: install
	$(BIN)/kedro run

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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

benchmark-data: install
	$(BIN)/python benchmarks/data_processing.py

clean:
	rm -rf $(VENV)
