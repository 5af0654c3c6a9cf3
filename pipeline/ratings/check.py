"""What `haha validate` says about ratings lines once read (files.py reads them). Pure.

Ratings reach `main` in a pull request, like configs, so every line is checked: it names a completion that exists
in a results file under the same config hash, and a rater votes once per completion. A line whose config was run
again since is a warning (its vote is kept, and not counted); anything else that does not add up is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.core.problems import Problem
from pipeline.formats.results import ResultsDoc
from pipeline.ratings.cells import Standing, match
from pipeline.ratings.lines import CellKey, RatingLine


@dataclass(frozen=True)
class Placed:
    """A ratings line and where it stands: the file as shown to people, and its 1-based line number."""

    file: str
    number: int
    line: RatingLine


@dataclass(frozen=True)
class RatingsRead:
    """Every readable line of a ratings folder, and what is wrong with the rest."""

    placed: list[Placed] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def lines(self) -> list[RatingLine]:
        return [item.line for item in self.placed]


def duplicate_problems(placed: Sequence[Placed]) -> list[Problem]:
    """One vote per rater per completion: a second line on the same cell is an error at its own line."""
    first: dict[tuple[str, CellKey], Placed] = {}
    problems = []
    for item in placed:
        earlier = first.setdefault((item.line.rater, item.line.cell), item)
        if earlier is not item:
            problems.append(Problem(item.file, item.number, "completion_sha256",
                                    f"{item.line.rater} already voted on this completion at line {earlier.number}: "
                                    "one vote per rater per completion"))
    return problems


def standing_problems(placed: Sequence[Placed], docs: Mapping[str, ResultsDoc]) -> list[Problem]:
    """Each line against the current results: stale votes warn, votes on no known completion are errors."""
    problems = []
    for item in placed:
        found = match(item.line, docs)
        if found.standing is Standing.STALE:
            problems.append(Problem(item.file, item.number, "config_sha256", found.reason, "warning"))
        elif found.standing is Standing.UNKNOWN:
            problems.append(Problem(item.file, item.number, "completion_sha256", found.reason))
    return problems


def rater_problems(placed: Sequence[Placed], owner: str) -> list[Problem]:
    """A file holds one rater's votes: every line names the rater the file is named for."""
    return [Problem(item.file, item.number, "rater", f"a vote by {item.line.rater!r} in {owner}'s file: each rater "
                                                     f"writes only <rater>.jsonl, two raters never share a file")
            for item in placed if item.line.rater != owner]
