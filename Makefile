# hwflow: every target is a thin call of a `hwflow` subcommand (see `make help`).
# The first target that needs Python creates .venv and installs the pinned stack
# (requirements.lock) into it.

MODEL    ?= squeezenet
CONFIG   ?= hls_configs/$(MODEL).yaml
BOARD    ?=
BUDGET   ?= 1.0
SPACE    ?= hls_configs/sweeps/$(MODEL).yaml
PYTHON   ?= python3.11
VENV     := .venv
HW       := $(VENV)/bin/hwflow
PYTEST   := $(VENV)/bin/python -m pytest
STAMP    := $(VENV)/.installed

.PHONY: help venv hls check csim report estimate fit synth bitstream doctor tune sweep bench docs test test-fast clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  variables: MODEL=$(MODEL) CONFIG=$(CONFIG) BOARD=<board> BUDGET=<points> SPARSITY=<shares|0> SPACE=<sweep.yaml> TARGET_FPS=<images/s>"

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH, or make PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.lock
	$(VENV)/bin/pip install -q --no-deps -e .
	@touch $@

venv: $(STAMP)  ## create .venv with the pinned stack

hls: $(STAMP)  ## data -> train -> check -> fold -> convert -> C-sim parity (MODEL=name, BOARD=<board> refolds)
	$(HW) hls --config $(CONFIG) $(if $(BOARD),--board $(BOARD))

check: $(STAMP)  ## pre-flight check for constructs hls4ml mishandles
	$(HW) check --config $(CONFIG)

csim: $(STAMP)  ## C-simulation parity of the generated project
	$(HW) csim --config $(CONFIG)

report: $(STAMP)  ## parse synthesis reports into build/MODEL/reports/
	$(HW) report --config $(CONFIG)

estimate: $(STAMP)  ## resources and latency per layer without synthesis
	$(HW) estimate --config $(CONFIG) $(if $(BOARD),--board $(BOARD))

fit: $(STAMP)  ## freeze the fold for BOARD into a config (writes hls_configs/MODEL_BOARD.yaml)
	@test -n "$(BOARD)" || { echo "make fit needs BOARD=<board>, e.g. make fit MODEL=squeezenet BOARD=pynq-z2"; exit 2; }
	$(HW) fit --config $(CONFIG) --board $(BOARD) $(if $(TARGET_FPS),--target-fps $(TARGET_FPS))

synth: $(STAMP)  ## C synthesis with vitis_hls / vivado_hls (when installed)
	$(HW) synth --config $(CONFIG)

bitstream: $(STAMP)  ## bitstream / xclbin / IP for BOARD (when Vivado is installed)
	$(HW) bitstream --config $(CONFIG) $(if $(BOARD),--board $(BOARD))

doctor: $(STAMP)  ## which Xilinx tools are installed and what each missing one blocks
	$(HW) doctor

tune: $(STAMP)  ## per-layer bit widths (and sparsity) under an accuracy budget (BUDGET=points, SPARSITY="0.5 0.75" or 0)
	$(HW) tune --config $(CONFIG) --budget $(BUDGET) $(if $(SPARSITY),--sparsity $(SPARSITY))

sweep: $(STAMP)  ## design-space sweep on Dask (SPACE=sweep.yaml)
	$(HW) sweep --config $(CONFIG) --space $(SPACE)

bench: $(STAMP)  ## benchmarks under benchmarks/ (ratios against a baseline, one run)
	$(VENV)/bin/python -m benchmarks.run

docs: $(STAMP)  ## the documentation site (mkdocs.yml) into site/, strict: a broken link or include fails
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/python -m mkdocs build --strict --site-dir site

test: $(STAMP)  ## the whole test suite (unit + end-to-end; includes the strict docs build)
	$(PYTEST) -q

test-fast: $(STAMP)  ## unit tests only
	$(PYTEST) -q -m "not slow"

clean:  ## remove build outputs and the built site (keeps .venv)
	rm -rf build site
