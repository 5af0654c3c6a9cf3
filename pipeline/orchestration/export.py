"""`haha export CONFIG DIR`: a config's published adapter merged into its base model, as one folder other runtimes
load: safetensors weights, the tokenizer with its chat template, and a model card.

That folder is what Ollama (through llama.cpp's converter), llama.cpp itself and vLLM take, and what people ask
Axolotl for after training (`axolotl merge-lora`). The adapter is the one the config's results name, fetched from
the hub at that revision once the hub confirms it (publish/fetch.py), never a run folder's files: what is exported
is what was evaluated. A config whose adapter is not published and evaluated is refused with its name; a
`haha_parent` child is merged onto its parent's merged model, as it was trained. Loads models; writes DIR whole or
not at all.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.config.loading import ConfigLoadError, load_config
from pipeline.core.errors import HahaError, UsageError
from pipeline.core.naming import basename_of
from pipeline.core.quiet import quiet_libraries
from pipeline.core.runs import AdapterRef
from pipeline.formats.results import load_results
from pipeline.orchestration.context import RunContext
from pipeline.orchestration.parents import merged_parent, published_ref, trained_on_problem
from pipeline.publish.fetch import fetch_adapter
from pipeline.publish.modelcard import MergedCardInputs, render_merged_card
from pipeline.train.merge import merge_adapter

CARD = "README.md"


class ExportError(HahaError):
    """The config cannot be exported as asked; the message names the config and what to do."""


@dataclass(frozen=True)
class Exported:
    folder: Path
    adapter: AdapterRef
    base_model: str  # what the adapter was merged into (a smoke run's stand-in in smoke runs)
    files: tuple[str, ...]


def has_chat_template(folder: Path) -> bool:
    """Whether the saved tokenizer carries a chat template (its own file, or inside tokenizer_config.json)."""
    if (folder / "chat_template.jinja").is_file():
        return True
    try:
        return bool(json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError):
        return False


def export_config(ctx: RunContext, config_path: Path, dest: Path) -> Exported:
    """Merge `config_path`'s published adapter into its base model and write the folder `dest` (new or empty)."""
    basename = basename_of(config_path)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{dest}: exists and is not an empty folder; name a new one")
    try:
        config = load_config(config_path)
    except ConfigLoadError as exc:
        raise UsageError(f"{config_path}:{exc.line or ''}: {exc.message}") from None
    command = f"haha run {config_path}{ctx.flags}"
    ref = published_ref(ctx.results_dir, basename, "the config", command, ctx.settings.hub_org)
    meta = load_results(ctx.results_path(basename)).meta
    base = ctx.training_base(config)
    if (mismatch := trained_on_problem(ctx, basename, "the config", base)) is not None:
        raise ExportError(mismatch)
    parent = meta.parent if meta is not None else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    log = ctx.workspace / ".exports" / f"{basename}.log"
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.export-", dir=dest.parent) as scratch, \
            quiet_libraries(log):
        onto = str(merged_parent(parent, ctx.hub, base, ctx.workspace.resolve())) if parent else base
        adapter = fetch_adapter(ctx.hub, ref.repo_id, ref.revision, Path(scratch) / "adapter")
        staging = Path(scratch) / "model"
        merge_adapter(onto, adapter, staging)
        card = MergedCardInputs(basename, base, ref, config.data, parent, has_chat_template(staging))
        (staging / CARD).write_text(render_merged_card(card), encoding="utf-8")
        files = tuple(sorted(path.name for path in staging.iterdir()))
        if dest.exists():
            dest.rmdir()  # empty, checked above
        shutil.move(str(staging), dest)
    return Exported(dest, ref, base, files)
