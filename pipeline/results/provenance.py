"""What a results file may claim about where its adapter lives, checked before anything is loaded from it.

`train/results/` sits under `train/`, which a pull request can edit, and a results file names the adapter that
a child config merges (`haha_parent`), that best-of-N scores with, and that judges every config. So a results
file of config `<basename>` may name only `<hub_org>/<basename>`, at a pinned revision: a full commit id on
the Hugging Face Hub, or a local hub's 64-hex content hash. Whether that revision exists is the hub's to say
(publish/fetch.py asks it before downloading). Pure: values in, problems out.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.core.naming import hub_repo_id, is_basename, is_commit_id
from pipeline.core.problems import Problem
from pipeline.core.runs import AdapterRef
from pipeline.formats.results import Meta, ResultsDoc, ResultsError, load_results
from pipeline.results.failures import FAILED_SUFFIX, parse_failure
from pipeline.results.scan import results_files

# A local hub names a push by the sha256 of its files (publish/hub.py content_hash).
LOCAL_REVISION = re.compile(r"[0-9a-f]{64}\Z")
CONFIG_SHA256 = LOCAL_REVISION


def is_pinned_revision(value: object) -> bool:
    """A revision that names exactly one state of a repo: a Hub commit id or a local hub's content hash."""
    return is_commit_id(value) or (isinstance(value, str) and LOCAL_REVISION.match(value) is not None)


def ref_problems(ref: AdapterRef, hub_org: str, where: str) -> list[tuple[str, str]]:
    """Why an adapter reference (a parent's, a judge's) cannot be trusted, as (key, message) pairs."""
    if not is_basename(ref.basename):
        return [(f"{where}.basename", f"{ref.basename!r} is not a config's basename")]
    found = []
    expected = hub_repo_id(hub_org, ref.basename)
    if ref.repo_id != expected:
        found.append((f"{where}.repo_id", f"names {ref.repo_id!r}; {ref.basename}'s adapter is only ever {expected}"))
    if not is_pinned_revision(ref.revision):
        found.append((f"{where}.revision", f"{ref.revision!r} is not a full commit id: a branch or tag can move"))
    return found


def meta_problems(meta: Meta, basename: str, hub_org: str) -> list[tuple[str, str]]:
    """Why a results file's `meta` cannot be `basename`'s, as (key, message) pairs."""
    found = []
    expected = hub_repo_id(hub_org, basename)
    if meta.hub_repo is not None and meta.hub_repo != expected:
        found.append(("meta.hub_repo", f"names {meta.hub_repo!r}; the results of {basename} name only {expected} "
                                       "(only the commit job writes results)"))
    if meta.hub_revision is not None and not is_pinned_revision(meta.hub_revision):
        found.append(("meta.hub_revision", f"{meta.hub_revision!r} is not a full commit id: a branch or tag can "
                                           "move"))
    if meta.config_sha256 is not None and not CONFIG_SHA256.match(meta.config_sha256):
        found.append(("meta.config_sha256", f"{meta.config_sha256!r} is not a sha256"))
    if meta.parent is not None:
        found += ref_problems(meta.parent, hub_org, "meta.parent")
    return found


def doc_problems(doc: ResultsDoc, basename: str, hub_org: str) -> list[tuple[str, str]]:
    """Everything a results file claims about adapters: its own, its parent's and its judge's."""
    found = meta_problems(doc.meta, basename, hub_org) if doc.meta else []
    if doc.judge is not None:
        found += ref_problems(doc.judge.judge, hub_org, "judge.judge")
    return found


def _line(text: str, key: str) -> int | None:
    """The line of the key's last part in the file: enough to point a reader at it without parsing twice."""
    at = text.find(f'"{key.rpartition(".")[2]}"')
    return text.count("\n", 0, at) + 1 if at >= 0 else None


def results_problems(results_dir: Path, hub_org: str, display: str) -> list[Problem]:
    """Every config's results file checked (`haha validate`); `display` names the folder in problems.
    Unreadable files are the index's to report; a file named for no config basename is refused here."""
    problems = []
    for path in sorted(results_dir.glob(f"*{FAILED_SUFFIX}")):
        name = path.name.removesuffix(FAILED_SUFFIX)
        try:
            parse_failure(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            problems.append(Problem(f"{display}/{path.name}", None, "failure record", str(exc)))
        if not is_basename(name):
            problems.append(Problem(f"{display}/{path.name}", None, "filename",
                                    f"a failure record is named <config basename>{FAILED_SUFFIX}"))
    for path in results_files(results_dir)[0]:
        shown = f"{display}/{path.name}"
        if not is_basename(path.stem):
            problems.append(Problem(shown, None, "filename", "a results file is named <config basename>.json"))
            continue
        try:
            doc = load_results(path, display=shown)
            text = path.read_text(encoding="utf-8")
        except ResultsError as exc:
            problems.append(Problem(shown, None, "results", str(exc).removeprefix(f"{shown}: ")))
            continue
        problems += [Problem(shown, _line(text, key), key, message)
                     for key, message in doc_problems(doc, path.stem, hub_org)]
    return problems
