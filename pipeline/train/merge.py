"""Folding a LoRA adapter into its base model's weights: a `haha_parent` child trains on its parent merged this way
(config/lineage.py has the key's rules, orchestration/parents.py finds and fetches the parent), and a GRPO config's
`haha_reward` reaches TRL as a reward model merged this way, a one-label sequence classifier (config/grpo.py).

A merged folder carries a marker naming what it was built from, so it is rebuilt only when the parent's revision
or the base model changes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MARKER = "haha-parent.json"


def marker_of(model_dir: Path) -> dict[str, Any] | None:
    """What a merged parent folder was built from (the parent's ref and the base model), or None."""
    try:
        found = json.loads((model_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def merged_from(model_dir: Path) -> str | None:
    """The base model a merged parent folder was built on, or None when the folder is not one."""
    marker = marker_of(model_dir)
    return str(marker["base_model"]) if marker and "base_model" in marker else None


def merge_adapter(base_model: str, adapter_dir: Path, out_dir: Path, scorer: bool = False) -> None:
    """Base model plus LoRA, folded into plain weights, saved with the adapter's tokenizer (it may add tokens) and
    its chat template, which TRL formats a conversation with before a reward model scores it. A `scorer` is a
    one-label sequence classifier (a reward model's score head comes with its adapter); its config names the pad
    token, since it scores each row's last token before the padding."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    if scorer:
        model = AutoModelForSequenceClassification.from_pretrained(base_model, dtype="auto", num_labels=1)
    else:
        model = AutoModelForCausalLM.from_pretrained(base_model, dtype="auto")
    has_tokenizer = (adapter_dir / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir if has_tokenizer else base_model)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    if scorer:
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        merged.config.pad_token_id = pad
    merged.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def merge_into(base_model: str, adapter_dir: Path, out_dir: Path, identity: dict[str, Any],
               scorer: bool = False) -> None:
    """`merge_adapter`, then the marker `merged_from` and `marker_of` read."""
    merge_adapter(base_model, adapter_dir, out_dir, scorer)
    (out_dir / MARKER).write_text(json.dumps(identity), encoding="utf-8")
