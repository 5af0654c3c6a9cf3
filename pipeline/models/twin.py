"""A shrunken random twin of a config's base model: same architecture and tokenizer, two tiny layers.

A smoke run on some other model proves little about the config: `model_type:
MistralForCausalLM` crashes on a Llama, and a real tokenizer decides which rows fit
`sequence_len`. When the base model's config.json and tokenizer are reachable (see
models/source.py), the smoke run trains this twin instead: the config's own `model_type`,
its architecture's code paths and its real token lengths, at a size a CPU trains in seconds.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

from pipeline.core.errors import HahaError
from pipeline.core.files import build_folder_once
from pipeline.core.settings import cache_root
from pipeline.models.source import DESCRIPTION_FILES

# The twin's size; attributes an architecture lacks are left alone.
TWIN_SHAPE = {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
              "num_key_value_heads": 2}
TWIN_HEAD_DIM = TWIN_SHAPE["hidden_size"] // TWIN_SHAPE["num_attention_heads"]
MARKER = "haha-twin.txt"


class TwinError(HahaError):
    """This architecture cannot be shrunk here (it needs remote code, or transformers does not know it)."""


def twin_dir(source: Path, name: str) -> Path:
    """One folder per source description: a changed config.json or tokenizer makes a new twin."""
    digest = hashlib.sha256()
    for path in sorted(source.iterdir()):
        if path.is_file() and any(fnmatch.fnmatch(path.name, pattern) for pattern in DESCRIPTION_FILES):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    slug = re.sub(r"[^A-Za-z0-9._-]+", "--", name.strip("/"))[-80:]
    return cache_root() / "twins" / f"{slug}-{digest.hexdigest()[:12]}"


def shrink(config: Any) -> Any:
    """The same config at the twin's size (a pure edit of a transformers config object)."""
    for key, value in TWIN_SHAPE.items():
        if hasattr(config, key):
            setattr(config, key, value)
    if getattr(config, "head_dim", None) is not None:
        config.head_dim = TWIN_HEAD_DIM
    if isinstance(getattr(config, "layer_types", None), list):
        config.layer_types = config.layer_types[: TWIN_SHAPE["num_hidden_layers"]]
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # a pre-quantized repo's twin is a plain float model
    config.dtype = "float32"
    return config


def build(source: Path, out_dir: Path, seed: int = 0) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = shrink(AutoConfig.from_pretrained(str(source), trust_remote_code=False))
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=False)
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise TwinError(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from None
    model.save_pretrained(out_dir)
    for path in source.iterdir():
        if path.is_file() and path.name != "config.json" and any(
                fnmatch.fnmatch(path.name, pattern) for pattern in DESCRIPTION_FILES):
            shutil.copyfile(path, out_dir / path.name)  # the real tokenizer, byte for byte


def ensure_twin(source: Path, name: str) -> Path:
    """The twin's folder in the haha cache, built on first use (seconds) and reused after."""
    from pipeline.core.quiet import quiet_libraries

    def build_marked(staging: Path) -> None:
        with quiet_libraries():
            build(source, staging)
        (staging / MARKER).write_text(f"shrunken random twin of {name}\n")

    return build_folder_once(twin_dir(source, name), MARKER, build_marked)
