"""`haha rate` (people rate completions on a page in their browser) and `haha pairs-from-ratings` (their votes as
preference pairs in train/data)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.app import app, emit, say, verb
from pipeline.cli.options import ResultsDirOption, results_folder
from pipeline.core.errors import HahaError, UsageError
from pipeline.core.settings import load_settings
from pipeline.formats.results import ResultsDoc, ResultsError, load_results
from pipeline.ratings.lines import RATER_RULE, REFERENCE_NAME, is_rater_name, ratings_folder

DATA_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,94}[a-z0-9])?\Z")


def rated_name(ref: str) -> str:
    """A config to rate as its results are named: a basename, a config file, a results file, or base/<stem>."""
    from pipeline.core.naming import basename_of, is_basename

    path = Path(ref)
    if path.suffix in (".yml", ".yaml"):
        name = basename_of(path)
    elif path.suffix == ".json":
        name = f"base/{path.stem}" if path.parent.name == "base" else path.stem
    else:
        name = ref
    if not (is_basename(name) or REFERENCE_NAME.match(name)):
        raise UsageError(f"{ref}: name a config (haha-llama-3-8b-lora-001, or its file) or a base reference "
                         "(base/<stem>)")
    return name


def _with_completions(folder: Path, name: str) -> ResultsDoc | None:
    try:
        doc = load_results(folder / f"{name}.json")
    except ResultsError:
        return None
    return doc if any(r.completions for p in doc.results for r in p.settingsResults) else None


def chosen_results(folder: Path, refs: list[str]) -> dict[str, ResultsDoc]:
    """The named configs' results, else the newest config of each family that has completions, each with the base
    reference made for the same sweep and prompt format."""
    from pipeline.orchestration.llm_judging import base_reference
    from pipeline.ratings.session import newest_of_families
    from pipeline.results.scan import results_files

    if refs:
        docs = {}
        for name in map(rated_name, refs):
            if (doc := _with_completions(folder, name)) is None:
                raise UsageError(f"{name}: no readable results file with completions in {folder}")
            docs[name] = doc
        return docs
    configs, _ = results_files(folder)
    readable = {path.stem: doc for path in configs if (doc := _with_completions(folder, path.stem)) is not None}
    docs = {name: readable[name] for name in newest_of_families(readable)}
    references = {ref.name for doc in docs.values() if (ref := base_reference(folder, doc)) is not None}
    docs |= {name: doc for name in sorted(references) if (doc := _with_completions(folder, name)) is not None}
    if not docs:
        raise UsageError(f"no results with completions in {folder}: `haha run` writes them")
    return docs


@app.command()
@verb
def rate(
    rater: Annotated[str, typer.Option("--rater", help=f"Your name, {RATER_RULE}: your votes go to NAME.jsonl "
                                                       "in the ratings folder.")],
    refs: Annotated[list[str] | None, typer.Argument(
        metavar="[CONFIG]...", help="Configs to rate: basenames, config files or base/<stem> references (default: "
                                    "the newest config of each family and its base reference).")] = None,
    port: Annotated[int, typer.Option(help="The port on 127.0.0.1 (0: any free one).", min=0, max=65535)] = 8765,
    seed: Annotated[int | None, typer.Option(help="The shuffle's seed (default: one of your own, so raters do "
                                                  "not all see the same order).")] = None,
    results_dir: ResultsDirOption = None,
) -> None:
    """Rate completions on a page in your browser: unfunny, somewhat funny, funny (keys 1, 2, 3; s skips).

    The page is blind (it never shows which config wrote a joke) and shuffled. Each vote is appended to your
    ratings file (train/ratings/NAME.jsonl beside train/results, scratch/ratings beside scratch/results) and
    fsynced the moment it is cast; stop at any time, and the next `haha rate` goes on where you stopped. Open a
    pull request with the file: `haha validate` checks it, and `haha results` shows the human score.
    """
    from pipeline.ratings.server import open_rating

    if not is_rater_name(rater):
        raise UsageError(f"--rater {rater!r}: {RATER_RULE}")
    folder = results_folder(results_dir)
    running = open_rating(rater, chosen_results(folder, refs or []), ratings_folder(folder), seed, port,
                          load_settings().data_dir)
    progress = running.session.progress()
    emit(f"rating page for {rater}: {running.url} ({progress.rated} of {progress.total} rated so far; Ctrl-C stops, "
         f"every vote is already saved in {running.writer.path})")
    try:
        running.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        running.close()
    done = running.session.progress()
    say(f"{rater}: {done.rated} of {done.total} rated, {done.skipped} skipped")


@app.command("pairs-from-ratings")
@verb
def pairs_from_ratings(
    name: Annotated[str, typer.Argument(help="The data file's name: writes train/data/NAME.jsonl.")],
    system: Annotated[str | None, typer.Option(help="The system turn of every pair (default: the haha configs' "
                                                    "comedian prompt).")] = None,
    results_dir: ResultsDirOption = None,
) -> None:
    """Write preference pairs from the ratings: within a prompt, a completion rated higher is `chosen` and one
    rated lower `rejected`.

    Only votes on completions of the current results count (what `haha validate` accepts). The rows have the
    fields the DPO (`type: chatml.icr`) and Bradley-Terry reward (`type: bradley_terry.chat_template`) configs
    read.
    """
    from pipeline.core.files import write_atomic
    from pipeline.core.markdown import plural
    from pipeline.orchestration.validation import shown
    from pipeline.ratings.cells import counted_votes
    from pipeline.ratings.files import read_ratings, results_docs
    from pipeline.ratings.pairs import DEFAULT_SYSTEM, preference_pairs

    if not DATA_NAME.match(name):
        raise UsageError(f"{name!r}: a data file's name is lower-case letters, digits, '.', '_' and '-' (no .jsonl)")
    settings = load_settings()
    folder = results_folder(results_dir)
    read = read_ratings(ratings_folder(folder), lambda path: f"{shown(path.parent, settings)}/{path.name}")
    votes = counted_votes(read.lines, results_docs(folder, (line.config for line in read.lines)))
    rows = preference_pairs(votes, DEFAULT_SYSTEM if system is None else system)
    if not rows:
        raise HahaError(f"no pairs: {len(votes)} counted votes in {ratings_folder(folder)} rate no two completions of "
                        "one prompt differently")
    path = settings.data_dir / f"{name}.jsonl"
    write_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    left_out = len(read.lines) - len(votes)
    raters, prompts = len({v.line.rater for v in votes}), len({v.line.prompt for v in votes})
    say(f"wrote {plural(len(rows), 'pair')} from {plural(len(votes), 'vote')} by {plural(raters, 'rater')} on "
        f"{plural(prompts, 'prompt')} to {shown(path, settings)}"
        + (f"; {plural(left_out, 'line')} not counted (skips, repeats, stale or unknown completions: `haha validate` "
           "names them)" if left_out else ""))
