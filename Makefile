# hccp53 — developer entry points. `make` alone lists them; docs/development.md explains them.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-k phases -x"`.
PYTEST_ARGS ?=
DEMO_OUT ?= demo_output
# The MONAI Label app's own environment (monailabel 0.8.5 needs numpy<2 and pydicom<3) and its sample datastore.
LABEL_VENV ?= label/.venv
LABEL_DATA ?= runs/label
LABEL_HOST ?= 127.0.0.1
LABEL_PORT ?= 8000

VPY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
LABEL_PY := $(LABEL_VENV)/bin/python
LABEL_STAMP := $(LABEL_VENV)/.setup-stamp
# The torch version is written once, in requirements.txt. `+cpu` names the local CPU wheel exactly, so
# that a machine without it fails at once instead of downloading GBs of CUDA. On a CUDA machine use
# `make setup TORCH_LOCAL=` to take torch==<version> from the index.
TORCH_VERSION := $(shell sed -n 's/^torch==\([0-9][0-9.]*\).*/\1/p' requirements.txt)
TORCH_LOCAL ?= +cpu

# Holoscan needs a deeper stack than the usual 8 MiB default to start the app.
RAISE_STACK := s=$$(ulimit -s); if [[ $$s != unlimited && $$s -lt 32768 ]]; then \
	ulimit -s 32768 || echo "warning: could not raise the stack limit to 32768 KiB (ulimit -s)"; fi
# pytest exit code 5 means no test was collected or selected: not a failure of the code.
PYTEST_EXIT := if [[ $$rc -eq 5 ]]; then \
	echo "pytest: no tests were collected (exit code 5); counted as success."; rc=0; fi; exit $$rc

.PHONY: help setup system test test-slow demo bench weights evaluation map map-run map-test lint clean distclean label-setup label viewer

help: ## list the targets
	@echo "hccp53 make targets (variables: PYTHON=$(PYTHON) VENV=$(VENV) PYTEST_ARGS=...):"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' \
		$(MAKEFILE_LIST)

setup: $(STAMP) ## install system packages and the virtual environment (quick when done)
	@echo "setup: $(VENV) is ready."

system: ## install the Debian packages the tests use (scripts/setup_system.sh)
	@bash scripts/setup_system.sh

# Order-only on `system`: the system script runs every time, but only a change of the files listed
# here rebuilds the environment.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml scripts/setup_system.sh | system
	@if [[ -z "$(TORCH_VERSION)" ]]; then \
		echo "setup: no 'torch==<version>' line found in requirements.txt." >&2; exit 1; fi
	@if [[ ! -x "$(VPY)" ]]; then echo "setup: creating $(VENV) with $(PYTHON)"; \
		$(PYTHON) -m venv "$(VENV)"; fi
	@echo "setup: upgrading pip"
	@"$(VPY)" -m pip install -q --upgrade pip
	@echo "setup: installing torch==$(TORCH_VERSION)$(TORCH_LOCAL) first (alone)"
	@"$(VPY)" -m pip install -q "torch==$(TORCH_VERSION)$(TORCH_LOCAL)"
	@echo "setup: installing requirements-dev.txt"
	@"$(VPY)" -m pip install -q -r requirements-dev.txt
	@echo "setup: installing hccp53 (editable, --no-deps)"
	@"$(VPY)" -m pip install -q --no-deps -e .
	@touch "$@"

# The label tests drive a MONAI Label server in $(LABEL_VENV), so `make test` (and CI) builds that environment too.
test: setup label-setup ## run the default test suite (slow tests left out)
	@$(RAISE_STACK); rc=0; "$(VPY)" -m pytest -q $(PYTEST_ARGS) || rc=$$?; $(PYTEST_EXIT)

test-slow: setup ## run only the tests marked slow
	@$(RAISE_STACK); rc=0; "$(VPY)" -m pytest -q -m slow $(PYTEST_ARGS) || rc=$$?; $(PYTEST_EXIT)

demo: setup ## generate a full-size synthetic study and run the app on it with the demo weights
	"$(VENV)/bin/hccp53" synth --cases 1 --profile full --seed 1 --out "$(DEMO_OUT)" --overwrite
	"$(VENV)/bin/hccp53" phases "$(DEMO_OUT)/cases/SYN0001/dicom"
	@rm -rf "$(DEMO_OUT)/result"
	@$(RAISE_STACK); "$(VPY)" app.py -i "$(DEMO_OUT)/cases/SYN0001/dicom" -o "$(DEMO_OUT)/result" -m models \
		2>"$(DEMO_OUT)/app.log" || { tail -n 3 "$(DEMO_OUT)/app.log" >&2; exit 1; }
	@cat "$(DEMO_OUT)/result/result.json"
	@echo "demo: DICOM SR $(DEMO_OUT)/result/p53_sr.dcm, DICOM SEG $(DEMO_OUT)/result/tumor_seg.dcm, log $(DEMO_OUT)/app.log;"
	@echo "      the study is $(DEMO_OUT)/cases/SYN0001/dicom (preview.png beside it). Research use only."

# `make bench BENCH_QUICK=1`: fewer studies, cases and repeats in each benchmark (figures less steady, about a
# third of the time); the quick arguments of each script are in the `case` below.
bench: setup ## run every bench/bench_*.py, then write docs/performance.md from bench/results.json (BENCH_QUICK=1: shorter)
	@$(RAISE_STACK); shopt -s nullglob; files=(bench/bench_*.py); failed=(); \
	if [[ $${#files[@]} -eq 0 ]]; then echo "bench: no bench/bench_*.py yet."; exit 0; fi; \
	for f in "$${files[@]}"; do args=(); \
		if [[ -n "$(BENCH_QUICK)" ]]; then case "$$(basename "$$f" .py)" in \
			bench_soak) args=(--studies 25);; \
			bench_study) args=(--cases 1 --phase-repeats 20);; \
			bench_registration) args=(--cases 2);; \
			bench_synth) args=(--small-cases 4 --full-cases 1 --no-images-cases 500);; \
			bench_train) args=(--cases 32 --epochs 1);; \
			bench_stats) args=(--resamples 1000 --loop-resamples 100);; \
			bench_recipes) args=(--only mc3d);; \
			bench_generalisation) args=(--cases 2);; \
		esac; fi; \
		echo "bench: $$f $${args[*]}"; "$(VPY)" "$$f" "$${args[@]}" || failed+=("$$f"); done; \
	"$(VPY)" bench/performance_table.py; \
	if [[ $${#failed[@]} -gt 0 ]]; then echo "bench: failed: $${failed[*]} (the others' figures are written)" >&2; \
		exit 1; fi

weights: setup ## retrain the demo weights in models/ (segmentation: 400-case cohort; classifier: 1,000 training cases; about 2 h on 2 cores)
	@$(RAISE_STACK); PY="$(VPY)" bash scripts/make_weights.sh

SET ?= seed1
evaluation: setup ## one paper's evaluation on a synthetic cohort of its size: SET=seed1 (default, ~25 min on 2 cores) or SET=seed2 (hours; resumable)
	@$(RAISE_STACK); "$(VPY)" scripts/model_set.py "$(SET)"

map: setup ## build the MAP image with podman, no registry (base image once, ~2 min; then the MAP; docs/deploy.md)
	@bash scripts/setup_containers.sh
	@"$(VPY)" scripts/map_build.py base
	@"$(VPY)" scripts/map_build.py package

map-run: ## run the MAP on a study: make map-run STUDY=folder OUT=new-folder (no network, input read-only)
	@if [[ -z "$(STUDY)" || -z "$(OUT)" ]]; then echo "map-run: give STUDY=<DICOM folder> and OUT=<new folder>" >&2; exit 2; fi
	@"$(VPY)" scripts/map_build.py run "$(STUDY)" "$(OUT)"

map-test: setup ## build the MAP from a clean clone and compare it with the host app (slow: tests/test_map_container.py)
	@$(RAISE_STACK); rc=0; "$(VPY)" -m pytest -q -m slow tests/test_map_container.py $(PYTEST_ARGS) || rc=$$?; $(PYTEST_EXIT)

label-setup: $(LABEL_STAMP) ## create the MONAI Label environment label/.venv (quick when done)
	@echo "label-setup: $(LABEL_VENV) is ready."

# torch first and alone (the local CPU wheel), then monailabel and the pins of label/requirements.txt under
# label/constraints.txt plus the torch version of requirements.txt (so nothing replaces the CPU torch),
# then torchvision and sam2 out again (monailabel pulls them; they cannot work with the CPU torch), and
# hccp53 without its dependencies (its Deploy pins need numpy 2 and pydicom 3).
$(LABEL_STAMP): label/requirements.txt label/constraints.txt requirements.txt pyproject.toml
	@if [[ ! -x "$(LABEL_PY)" ]]; then echo "label-setup: creating $(LABEL_VENV) with $(PYTHON)"; \
		$(PYTHON) -m venv "$(LABEL_VENV)"; fi
	@"$(LABEL_PY)" -m pip install -q --upgrade pip
	@echo "label-setup: installing torch==$(TORCH_VERSION)$(TORCH_LOCAL) first (alone)"
	@"$(LABEL_PY)" -m pip install -q "torch==$(TORCH_VERSION)$(TORCH_LOCAL)"
	@echo "torch==$(TORCH_VERSION)" > "$(LABEL_VENV)/torch-constraint.txt"
	@echo "label-setup: installing label/requirements.txt (monailabel 0.8.5)"
	@"$(LABEL_PY)" -m pip install -q -c label/constraints.txt -c "$(LABEL_VENV)/torch-constraint.txt" \
		-r label/requirements.txt
	@echo "label-setup: removing torchvision and sam2"
	@"$(LABEL_PY)" -m pip uninstall -q -y torchvision sam2
	@echo "label-setup: installing hccp53 (editable, --no-deps)"
	@"$(LABEL_PY)" -m pip install -q --no-deps -e .
	@touch "$@"

label: setup label-setup ## start the MONAI Label server (127.0.0.1:8000; LABEL_HOST, LABEL_PORT) on a synthetic sample datastore
	@if [[ ! -d "$(LABEL_DATA)/studies" ]]; then \
		"$(VENV)/bin/hccp53" synth --cases 4 --seed 3 --out "$(LABEL_DATA)/cohort" --overwrite; \
		"$(VPY)" label/make_datastore.py build "$(LABEL_DATA)/cohort/datalist.json" "$(LABEL_DATA)/studies"; fi
	@echo "label: datastore $(LABEL_DATA)/studies; connect 3D Slicer to http://$(LABEL_HOST):$(LABEL_PORT) (docs/label.md)"
	"$(LABEL_PY)" -m monailabel.main start_server --app label --studies "$(LABEL_DATA)/studies" \
		--host "$(LABEL_HOST)" --port "$(LABEL_PORT)"

viewer: setup label-setup ## Orthanc with a synthetic study and the app's SR/SEG/PDF, MONAI Label's OHIF on it (127.0.0.1:8000/ohif/; docs/viewer.md)
	@$(RAISE_STACK); "$(VPY)" scripts/viewer.py --port "$(LABEL_PORT)"

lint: setup ## ruff check
	"$(VENV)/bin/ruff" check .

clean: ## remove generated output and caches (keeps the virtual environment)
	rm -rf "$(DEMO_OUT)" bench/output bench/results.json .pytest_cache .ruff_cache build dist
	rm -rf ./*.egg-info label/logs
	find . \( -path ./.git -o -path "./$(VENV)" -o -name .venv \) -prune -o \
		-name __pycache__ -type d -exec rm -rf {} +

distclean: clean ## clean, and remove the virtual environments too
	rm -rf "$(VENV)" "$(LABEL_VENV)"
