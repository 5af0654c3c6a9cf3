"""Before and after fine-tuning: the base model's completions for the cells a run shows as samples.

A sample completion alone says little; beside what the same base model wrote for the same
prompt, setting and seed, it shows what training changed. The base model gets exactly the
prompt the fine-tune gets (the config's own formatting) and the same per-cell random stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.core.quiet import quiet_libraries
from pipeline.evaluate.model import load_model
from pipeline.evaluate.prompting import encode_prompts
from pipeline.evaluate.spec import Cell, EvalSpec
from pipeline.evaluate.sweep import generate_cells, request_for


def base_completions(config: Mapping[str, Any], template_row: Mapping[str, Any] | None, base_model: str,
                     spec: EvalSpec, cells: Sequence[Cell], log_path: Path | None = None,
                     max_new_tokens: int | None = None) -> dict[Cell, str]:
    """What the base model, without the adapter, writes for `cells` (capped like the fine-tune's sweep)."""
    with quiet_libraries(log_path):
        model = load_model(base_model, None)
    prompt_ids = encode_prompts(config, template_row, spec.texts, model.tokenizer)
    requests = {cell: request_for(cell, spec, prompt_ids, max_new_tokens) for cell in cells}
    completions: dict[Cell, str] = {}
    for finished in generate_cells(model, [list(cells)], requests):
        completions.update({cell: done.text for cell, done in finished.items()})
    return completions
