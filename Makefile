# The two commands of the README:
#   make run    set up, train the default recipe on the bundled BTC sample, then serve the Space
#   make test   set up (venv, pinned packages, Chromium), then run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL_DIR ?= runs/default
PORT ?= 7860
# The models are small and sequential: one torch thread trains them fastest on a 2-core machine
# (7 s against minutes with two threads when the other core is busy). Override: OMP_NUM_THREADS=2 make run
export OMP_NUM_THREADS ?= 1

.PHONY: setup browser machine run train serve test lint bench bench-run clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: the CPU wheel; a range would pull several GB of CUDA packages
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser:
	@test -x /usr/bin/chromium || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@/usr/bin/chromium --version

$(MODEL_DIR)/model.safetensors: $(STAMP) configs/default.yaml
	$(BIN)/lstm-forecaster train --config configs/default.yaml --output $(MODEL_DIR) --overwrite

train: $(MODEL_DIR)/model.safetensors

serve: setup
	$(BIN)/lstm-forecaster serve --model $(MODEL_DIR) --port $(PORT)

# train prints the held-out table when it trains; with a model already trained, evaluate prints it instead.
run: setup
	@if $(MAKE) -s -q $(MODEL_DIR)/model.safetensors; then $(BIN)/lstm-forecaster evaluate --model $(MODEL_DIR); \
	  else $(MAKE) -s $(MODEL_DIR)/model.safetensors; fi
	@echo "Serving the Space with $(MODEL_DIR) on http://127.0.0.1:$(PORT) (Ctrl-C to stop)"
	$(BIN)/lstm-forecaster serve --model $(MODEL_DIR) --port $(PORT)

# What a failure on another machine needs to be read: the CPU and the kernels torch picks on it.
machine: setup
	@echo "CPU: $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($$(getconf _NPROCESSORS_ONLN) cores)"
	@$(BIN)/python -c "import torch; print('torch', torch.__version__, 'CPU capability:', torch.backends.cpu.get_cpu_capability(), '| threads:', torch.get_num_threads())"

test: setup browser machine
	$(BIN)/ruff check src tests benchmarks scripts space
	GRADIO_ANALYTICS_ENABLED=False HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=0 \
	  $(BIN)/python -m pytest -q; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts space
	$(BIN)/ruff format --check src tests benchmarks scripts space

bench: setup
	bash benchmarks/setup_bench.sh

# Every benchmark of benchmarks/README.md, one torch thread per contender (see there why).
bench-run: bench
	$(BIN)/python benchmarks/train_throughput.py --threads 1
	$(BIN)/python benchmarks/predict_latency.py --threads 1
	$(BIN)/python benchmarks/export_latency.py --threads 1
	.venv-bench/bin/python benchmarks/peers.py --epochs 5 --repeats 5 --threads 1
	.venv-bench/bin/python benchmarks/scaling.py --threads 1
	.venv-bench/bin/python benchmarks/accuracy.py --threads 1

clean:
	rm -rf $(VENV) runs .pytest_cache
