"""Reading the results folder into the index's entries (entries.py): every config's results file, the base-model
references beside them, and the failure records. The one module of the index that reads files; rebuild.py
writes the index.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.data.thumbnails import Thumbnail, make_thumbnail, thumbnail_key
from pipeline.formats.results import ResultsError, load_results
from pipeline.results.entries import (
    BASE,
    Broken,
    DatedBy,
    Entry,
    Scan,
    Sources,
    hyperparameters_of_entry,
    in_config_order,
    parse_time,
)
from pipeline.results.failures import FAILED_SUFFIX, read_failure

NO_SOURCES = Sources()  # no commit times, no configs: each file is dated by its own meta or not at all


def read_entry(path: Path, sources: Sources = NO_SOURCES, reference: bool = False) -> Entry | Broken:
    """One results file as an Entry, or Broken with the reason (named by file name, not machine path).

    A base-model reference is named `base/<file stem>`, so it can never take a config's name.
    """
    shown = f"{BASE}/{path.name}" if reference else path.name
    try:
        doc = load_results(path, display=shown)
    except ResultsError as exc:
        return Broken(shown, str(exc).removeprefix(f"{shown}: "))
    if reference:  # no training: only the model itself to compare on
        base = doc.meta.base_model if doc.meta else None
        finished = parse_time(doc.meta.finished) if doc.meta else None
        return Entry(f"{BASE}/{path.stem}", doc, finished, DatedBy.META if finished else DatedBy.UNKNOWN,
                     {"base_model": base}, "the base model without an adapter", reference=True)
    table, source = hyperparameters_of_entry(doc, sources.configs.get(path.stem))
    if (finished := parse_time(doc.meta.finished) if doc.meta else None) is not None:
        return Entry(path.stem, doc, finished, DatedBy.META, table, source)
    if (committed := sources.commit_times.get(path.name)) is not None:
        return Entry(path.stem, doc, committed, DatedBy.COMMIT, table, source)
    return Entry(path.stem, doc, None, DatedBy.UNKNOWN, table, source)


def results_files(results_dir: Path) -> tuple[list[Path], list[Path]]:
    """The configs' results files and the base-model references (`base/`, `haha evaluate --base`) beside them;
    failure records (`<basename>.failed.json`) are not results."""
    configs = [path for path in results_dir.glob("*.json") if not path.name.endswith(FAILED_SUFFIX)]
    return sorted(configs), sorted(results_dir.glob(f"{BASE}/*.json"))


def scan_results(results_dir: Path, sources: Sources = NO_SOURCES) -> Scan:
    """Every config's results in config order, then the base-model references."""
    configs, base_references = results_files(results_dir)
    read = [read_entry(path, sources) for path in configs]
    references = [read_entry(path, sources, reference=True) for path in base_references]
    entries = in_config_order([item for item in read if isinstance(item, Entry)])
    entries += [item for item in references if isinstance(item, Entry)]
    failures = {path.name.removesuffix(FAILED_SUFFIX): record for path in sorted(results_dir.glob(f"*{FAILED_SUFFIX}"))
                if (record := read_failure(results_dir, path.name.removesuffix(FAILED_SUFFIX))) is not None}
    data_dir = sources.data_dir if sources.data_dir is not None else results_dir.parent / DATA_FOLDER
    return Scan(entries, [item for item in read + references if isinstance(item, Broken)], failures, sources.ratings,
                thumbnails(entries, data_dir))


DATA_FOLDER = "data"  # train/data beside train/results, as the ratings folder is


def thumbnails(entries: list[Entry], data_dir: Path) -> dict[str, Thumbnail]:
    """A checked thumbnail (or why none) for every picture a prompt of the entries showed, each made once."""
    found: dict[str, Thumbnail] = {}
    for entry in entries:
        for prompt in entry.doc.results:
            key = thumbnail_key(prompt.image, prompt.image_sha256) if prompt.image is not None else None
            if key is not None and key not in found:
                found[key] = make_thumbnail(prompt.image or "", prompt.image_sha256, data_dir)
    return found
