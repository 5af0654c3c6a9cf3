"""A new config's signals next to the previous config of its family: the metrics diff of a training run's summary.

"Previous" is the highest-numbered config of the same family below it that has a readable results
file; what is compared is what a reader checks first: did the loss fall as far, and do the
completions look better (fewer empty, fewer never-stopping, fewer repeated, more varied).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.core.naming import parse_config_name
from pipeline.core.settings import results_path
from pipeline.formats.results import ResultsDoc, ResultsError, load_results, not_comparable
from pipeline.results.entries import overall_quality
from pipeline.results.values import format_signal

# (label, how a value reads); the loss is compared on its last logged value.
COMPARED = (("final training loss", "loss_last"), ("empty", "empty_share"), ("never stopped", "never_stopped_share"),
            ("repeated", "repeated_share"), ("distinct-2", "distinct_2"), ("mean length", "mean_chars"))


@dataclass(frozen=True)
class SignalRow:
    label: str
    previous: str
    current: str
    change: str  # "+0.12", "-3 points", or "" when either side is unknown


@dataclass(frozen=True)
class FamilyComparison:
    config: str
    previous: str
    rows: tuple[SignalRow, ...]
    caveat: str | None = None  # why the two are not like for like (other stand-in models or step counts)


def signals(doc: ResultsDoc) -> dict[str, float | None]:
    figures = overall_quality(doc)
    curve = doc.meta.training_loss if doc.meta else None
    figures["loss_last"] = curve.loss[-1] if curve and curve.loss else None
    return figures


def previous_in_family(results_dir: Path, basename: str) -> tuple[str, ResultsDoc] | None:
    name = parse_config_name(f"{basename}.yml")
    if name is None:
        return None
    for number in range(name.number - 1, 0, -1):
        earlier = f"{name.family}-{number:03d}"
        try:
            return earlier, load_results(results_path(results_dir, earlier))
        except ResultsError:
            continue
    return None


def shown(field_name: str, value: float | None) -> str:
    if field_name == "loss_last":
        return "—" if value is None else f"{value:.3f}"
    return format_signal(field_name, value)


def change(field_name: str, before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return ""
    delta = after - before
    if field_name in ("loss_last", "distinct_2"):
        return f"{delta:+.3f}" if field_name == "loss_last" else f"{delta:+.2f}"
    if field_name == "mean_chars":
        return f"{delta:+.1f} chars"
    return f"{delta * 100:+.1f} points"


def compare_with_previous(results_dir: Path, basename: str, doc: ResultsDoc) -> FamilyComparison | None:
    """This config's signals beside the previous config of its family, or None when it is the first."""
    found = previous_in_family(results_dir, basename)
    if found is None:
        return None
    earlier, earlier_doc = found
    before, after = signals(earlier_doc), signals(doc)
    return FamilyComparison(basename, earlier, tuple(
        SignalRow(label, shown(name, before[name]), shown(name, after[name]), change(name, before[name], after[name]))
        for label, name in COMPARED), not_comparable(earlier, earlier_doc.meta, basename, doc.meta))
