"""Starting a config from its parent's adapter (`haha_parent`, rules in config/lineage.py).

The parent's results file names the adapter revision it published and evaluated; that revision
is fetched from the hub and merged into the base model, and the child trains a new LoRA on the
merged model. The merged model lives under `<workspace>/.parents/<parent>-<revision>/`, shared by
every child of that revision and rebuilt only when the revision or the base model changes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pipeline.core.errors import HahaError
from pipeline.core.runs import AdapterRef
from pipeline.core.settings import results_path
from pipeline.publish.fetch import fetch_adapter
from pipeline.publish.target import HubTarget
from pipeline.results.model import ResultsError, load_results
from pipeline.results.provenance import meta_problems

MARKER = "haha-parent.json"


class ParentError(HahaError):
    """A config needed (a parent, a reward model) has no published, evaluated adapter yet."""


def published_ref(results_dir: Path, basename: str, role: str, command: str, hub_org: str) -> AdapterRef:
    """The adapter revision the config's finished results recorded; `role` says why it is needed (`the parent
    quip-sft-003`), `command` what makes the results. Only `<hub_org>/<basename>` at a pinned revision is
    believed (results/provenance.py): a results file is text a pull request could have written."""
    path = results_path(results_dir, basename)
    try:
        meta = load_results(path).meta
    except ResultsError:
        meta = None
    if meta is None or not meta.finished or not meta.hub_repo or not meta.hub_revision:
        state = "has no finished results" if meta is None or not meta.finished else "recorded no published adapter"
        raise ParentError(f"{role} {basename} {state} in {results_dir}: its adapter is published and evaluated "
                          f"first ({command})")
    if problems := meta_problems(meta, basename, hub_org):
        raise ParentError(f"{role} {basename}: its results in {results_dir} cannot be trusted: "
                          + "; ".join(f"{key} {message}" for key, message in problems))
    return AdapterRef(basename=basename, repo_id=meta.hub_repo, revision=meta.hub_revision)


def merged_dir(workspace: Path, ref: AdapterRef) -> Path:
    return workspace / ".parents" / f"{ref.basename}-{ref.revision[:12]}"


def merged_parent(ref: AdapterRef, hub: HubTarget, base_model: str, workspace: Path) -> Path:
    """The parent's adapter merged into `base_model`, built once per revision and base model."""
    dest = merged_dir(workspace, ref)
    identity = {**ref.model_dump(), "base_model": base_model}
    if _marker(dest) == identity:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as scratch:
        adapter = fetch_adapter(hub, ref.repo_id, ref.revision, Path(scratch) / "adapter")
        staging = Path(scratch) / "merged"
        merge_adapter(base_model, adapter, staging)
        (staging / MARKER).write_text(json.dumps(identity), encoding="utf-8")
        shutil.rmtree(dest, ignore_errors=True)
        staging.rename(dest)
    return dest


def _marker(model_dir: Path) -> dict[str, Any] | None:
    """What a merged parent folder was built from (the parent's ref and the base model), or None."""
    try:
        found = json.loads((model_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def merged_from(model_dir: Path) -> str | None:
    """The base model a merged parent folder was built on, or None when the folder is not one."""
    marker = _marker(model_dir)
    return str(marker["base_model"]) if marker and "base_model" in marker else None


def merge_adapter(base_model: str, adapter_dir: Path, out_dir: Path) -> None:
    """Base model plus LoRA, folded into plain weights, saved with the adapter's tokenizer (it may add tokens)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base_model, dtype="auto")
    has_tokenizer = (adapter_dir / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir if has_tokenizer else base_model)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
