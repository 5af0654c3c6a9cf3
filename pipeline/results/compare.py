"""`haha compare A B [C…]`: the index page's side-by-side view, as rich tables in the terminal.

Completions are model output: they are put in `Text` objects, never parsed as rich markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from pipeline.core.errors import UsageError
from pipeline.core.settings import results_path
from pipeline.formats.results import PromptResult, ResultsDoc, not_comparable
from pipeline.results.entries import (
    Entry,
    differing,
    hyperparameter_rows,
    prompt_key,
    repeated_by_label,
    repeated_flags,
    seed_of,
    setting_labels,
)
from pipeline.results.values import percent, rounded_value, setting_label


def resolve_results(ref: str, results_dir: Path) -> Path:
    """A results file from what a person types: a path, a basename, or a config file's name.

    Raises UsageError listing what exists, so a typo is fixed without another command.
    """
    if Path(ref).is_file() and ref.endswith(".json"):
        return Path(ref)
    basename = Path(ref).name.removesuffix(".json").removesuffix(".yml").removesuffix(".yaml")
    candidate = results_path(results_dir, basename)
    if candidate.is_file():
        return candidate
    known = sorted(path.stem for path in results_dir.glob("*.json"))
    hint = f"; known: {', '.join(known)}" if known else f"; {results_dir} has no results yet"
    smoke = results_dir.parent.parent / "scratch" / "results" / candidate.name
    if smoke.is_file():
        hint += f"; a smoke run's is in {smoke.parent}: add --results-dir {smoke.parent}"
    raise UsageError(f"{ref}: no results file {candidate}{hint}")


def params_table(entries: Sequence[Entry]) -> RenderableType:
    """Only the keys that differ, plus the repeated share per setting: what sets the configs apart."""
    docs = [entry.doc for entry in entries]
    rows = hyperparameter_rows([entry.hyperparameters for entry in entries])
    keys = differing(rows)
    table = Table("", *(entry.name for entry in entries), title="hyperparameters that differ" if keys else
                  "same hyperparameters and base model", title_justify="left", caption_justify="left",
                  caption="repeated: share of completions identical to another seed's (↻ below)")
    for index, key in enumerate(keys):
        table.add_row(key, *(Text(rounded_value(value)) for value in rows[key]), style="yellow",
                      end_section=index == len(keys) - 1)
    repeated = [repeated_by_label(doc) for doc in docs]
    for label in setting_labels(docs):
        table.add_row(f"repeated {label}", *(percent(shares[label]) if label in shares else "—" for shares in repeated))
    return table


def _completions(doc: ResultsDoc, key: str) -> dict[str, list[str]]:
    for result in doc.results:
        if prompt_key(result) == key:
            return {setting_label(r.setting): r.completions for r in result.settingsResults}
    return {}


def _cell(completions: Sequence[str], index: int) -> Text:
    if index >= len(completions):
        return Text("—", style="dim")
    if repeated_flags(completions)[index]:
        return Text("↻ ") + Text(completions[index], style="yellow")
    return Text(completions[index])


def prompt_title(prompt: PromptResult) -> Text:
    """The prompt, and the picture it showed by its path under train/data (as plain text, never markup)."""
    title = Text(prompt.prompt, style="bold")
    if prompt.image is not None:
        title.append(f"  [image: {prompt.image}]", style="cyan")
    return title


def prompt_table(entries: Sequence[Entry], prompt: PromptResult, labels: Sequence[str]) -> Table:
    """One prompt: a column per config, a row per setting and seed; ↻ marks a completion another seed repeated."""
    table = Table("setting", "seed", *(entry.name for entry in entries), title=prompt_title(prompt),
                  title_justify="left", show_lines=True, expand=True)
    by_config = [_completions(entry.doc, prompt_key(prompt)) for entry in entries]
    for label in labels:
        lists = [completions.get(label, []) for completions in by_config]
        seeds = max(len(items) for items in lists)
        for index in range(seeds):
            seed = next(seed_of(entry.doc, index) for entry, items in zip(entries, lists, strict=True)
                        if index < len(items))
            table.add_row(label if index == 0 else "", str(seed), *(_cell(items, index) for items in lists))
    return table


def compare_renderables(entries: Sequence[Entry], prompt_filter: str = "") -> list[RenderableType]:
    """The parameter table, then one table per prompt (those containing `prompt_filter`, case-insensitive)."""
    docs = [entry.doc for entry in entries]
    labels = setting_labels(docs)
    prompts: dict[str, PromptResult] = {}  # each prompt once, in the order the docs first list it
    for doc in docs:
        for result in doc.results:
            prompts.setdefault(prompt_key(result), result)
    needle = prompt_filter.lower()
    return [params_table(entries), *(prompt_table(entries, p, labels) for p in prompts.values()
                                     if needle in p.prompt.lower() or needle in (p.image or "").lower())]


def caveats(entries: Sequence[Entry]) -> list[str]:
    """Each result not like for like with the first (another stand-in model or step count), said before the tables."""
    first = entries[0]
    return [caveat for entry in entries[1:]
            if (caveat := not_comparable(first.name, first.doc.meta, entry.name, entry.doc.meta)) is not None]
