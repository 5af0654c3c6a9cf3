"""Reading the ratings folder and the results files its lines name. The one module of ratings that reads files.

The folder is data only: `<rater>.jsonl` files and a README, real files (no symlink leads out of it), no
subfolders. Importable code anywhere under train/ is refused by the config policy (config/policy.py) already.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from pipeline.core.jsonl import read_jsonl_models
from pipeline.core.problems import Problem
from pipeline.formats.results import ResultsDoc, ResultsError, load_results
from pipeline.ratings.check import Placed, RatingsRead, duplicate_problems, rater_problems, standing_problems
from pipeline.ratings.lines import RATER_RULE, RatingLine, is_rater_name

README = "README.md"
DATA_ONLY = f"the ratings folder holds <rater>.jsonl files and a {README} only (data, no code, nothing else)"


def read_ratings_file(path: Path, display: str) -> RatingsRead:
    """One rater's file: its lines (each in its rater's name), or problems at file:line."""
    rater = path.name.removesuffix(".jsonl")
    if not is_rater_name(rater):
        return RatingsRead(problems=[Problem(display, None, "rater", f"{rater!r} is not a rater name ({RATER_RULE}); "
                                                                     "its votes are not counted")])
    if path.stat().st_size == 0:
        return RatingsRead(problems=[Problem(display, None, "path", "empty: a rating session that cast no vote; "
                                                                    "delete it", "note")])
    rows, problems = read_jsonl_models(path, display, RatingLine, "ratings")
    placed = [Placed(display, number, line) for number, line in rows]
    wrong_rater = rater_problems(placed, rater)
    mine = [item for item in placed if item.line.rater == rater]
    return RatingsRead(mine, problems + wrong_rater)


def read_ratings(folder: Path, show: Callable[[Path], str]) -> RatingsRead:
    """Every `<rater>.jsonl` in the folder, in name order; anything else there is a problem. No folder: no ratings."""
    if folder.is_symlink():
        return RatingsRead(problems=[Problem(show(folder), None, "path", "a symlink: ratings must be real files in "
                                                                         "the repo's ratings folder")])
    if not folder.is_dir():
        return RatingsRead()
    placed: list[Placed] = []
    problems: list[Problem] = []
    for path in sorted(folder.iterdir()):
        if path.is_symlink() or not path.is_file():
            kind = "a symlink" if path.is_symlink() else "not a file"
            problems.append(Problem(show(path), None, "path", f"{kind}: {DATA_ONLY}"))
        elif path.suffix == ".jsonl":
            read = read_ratings_file(path, show(path))
            placed += read.placed
            problems += read.problems
        elif path.name != README:
            problems.append(Problem(show(path), None, "path", DATA_ONLY))
    return RatingsRead(placed, problems)


def results_docs(results_dir: Path, names: Iterable[str]) -> dict[str, ResultsDoc]:
    """The readable results files of the named configs and base references (names checked by RatingLine, so
    each is a file inside the results folder)."""
    docs = {}
    for name in sorted(set(names)):
        try:
            docs[name] = load_results(results_dir / f"{name}.json")
        except ResultsError:
            continue  # unreadable results are the index's and `haha validate`'s own problem
    return docs


def check_ratings(folder: Path, results_dir: Path, show: Callable[[Path], str]) -> list[Problem]:
    """`haha validate` on the ratings folder: schema at file:line, one file per rater, one vote per rater per
    completion, and every vote on a completion of the current results."""
    read = read_ratings(folder, show)
    docs = results_docs(results_dir, (line.config for line in read.lines))
    return read.problems + duplicate_problems(read.placed) + standing_problems(read.placed, docs)
