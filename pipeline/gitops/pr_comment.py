"""The comment the training workflow leaves on the pull request that merged the configs: what came of them.

Someone merges a config and, today, waits and then opens train/results/ to find out what happened. The commit job
instead answers on the pull request itself: one table per training run, a row per config of that PR with its
training loss, the quality signals of its completions, and the judges' win rates against the previous config of
its family and against the base model, with a link to the results page. A later run (the config retried, or a
re-run of the workflow) updates the same comment: the run's table is replaced when the run is the same, and a new
run's table goes on top; the oldest tables are dropped before GitHub's 65,536-character limit.

Every value shown comes from files a pull request can edit (config names, judge names, failure reasons), so every
cell goes through core/markdown.py; the run and page addresses are built by the workflow, never read from the
repository. Pure: rows in, text out; orchestration/pr_results.py gathers the rows, gitops/github.py posts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.core.markdown import cell, link, plural, table

MARKER = "<!-- haha-results -->"  # the first line of the comment: how a later run finds it
COMMENT_LIMIT = 65_536  # characters GitHub accepts in a comment body
SECTION = re.compile(r"<!-- haha-run:(?P<id>[0-9]+) -->\n.*?\n<!-- /haha-run:(?P=id) -->", re.DOTALL)
HEADER = ["config", "status", "training loss", "empty", "never stopped", "repeated", "distinct-2",
          "win rate vs previous", "win rate vs base"]


@dataclass(frozen=True)
class ResultRow:
    """One config of the pull request as a run left it."""

    config: str
    status: str  # `evaluated`, or `failed: reason`
    loss: str  # `3.962 → 3.104`, or `—`
    signals: tuple[str, str, str, str]  # empty, never stopped, repeated, distinct-2
    vs_previous: str  # `haha-…-002: reward judge 58 %; llm 61 % (52 to 70 %)`, or `—`
    vs_base: str


@dataclass(frozen=True)
class RunSection:
    """One training run's table: `run_id` is GitHub's (a re-run attempt keeps it), `url` its page."""

    run_id: int
    title: str  # `Train #42 (attempt 2), 2026-12-05 10:12 UTC`
    url: str
    rows: tuple[ResultRow, ...]


def render_section(section: RunSection) -> str:
    """The run's table between markers naming the run, so a later comment finds and replaces exactly this table."""
    rows = [[row.config, row.status, row.loss, *row.signals, row.vs_previous, row.vs_base] for row in section.rows]
    lines = [f"<!-- haha-run:{section.run_id} -->", f"### {link(cell(section.title), section.url)}", "",
             *table(HEADER, rows), f"<!-- /haha-run:{section.run_id} -->"]
    return "\n".join(lines)


def sections_of(body: str) -> list[tuple[int, str]]:
    """The run tables an earlier comment holds, as (run id, text), in the order it shows them."""
    return [(int(match["id"]), match.group(0)) for match in SECTION.finditer(body)]


def comment_body(section: RunSection, index_url: str, earlier: str | None = None,
                 limit: int = COMMENT_LIMIT) -> str:
    """The whole comment: this run's table first, the earlier runs' tables after it (the same run's replaced),
    the oldest dropped while the body is over `limit`."""
    intro = [MARKER, "## Training results", "",
             f"What the training workflow made of this pull request's configs; every config side by side on the "
             f"{link('results page', index_url)}. *Win rates* count the sweep's matched completions each judge "
             "preferred (ties half), against the previous config of the family and the base model without an "
             "adapter; — where that judge has not compared them.", ""]
    kept = [text for run_id, text in sections_of(earlier or "") if run_id != section.run_id]
    current = render_section(section)
    while kept and len("\n".join([*intro, current, "", *kept])) > limit:
        kept.pop()
    body = "\n".join([*intro, current, *(f"\n{text}" for text in kept)]) + "\n"
    if len(body) > limit:  # one run alone over the limit: its rows are cut, and the cut is said
        body = _cut(section, intro, limit)
    return body


def _cut(section: RunSection, intro: list[str], limit: int) -> str:
    rows = list(section.rows)
    while rows:
        rows.pop()
        note = ResultRow(f"… and {plural(len(section.rows) - len(rows), 'more config')}", "on the results page", "",
                         ("",) * 4, "", "")
        shorter = RunSection(section.run_id, section.title, section.url, (*rows, note))
        body = "\n".join([*intro, render_section(shorter)]) + "\n"
        if len(body) <= limit:
            return body
    raise ValueError("the comment's introduction alone is over the limit")


def shown_rates(rates: Sequence[tuple[str, float, tuple[float, float] | None]]) -> str:
    """`reward judge 58%; llm 61% (52% to 70%)`: each judge's win rate, with its interval when it has one."""
    return "; ".join(f"{judge} {rate:.0%}" + (f" ({interval[0]:.0%} to {interval[1]:.0%})" if interval else "")
                     for judge, rate, interval in rates)
