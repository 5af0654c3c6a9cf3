"""One rater's session on the rating page: what to show next, blind and shuffled, and what a vote writes. Pure
apart from the writer it is handed (store.py appends and fsyncs).

The page shows items, not cells: one joke setup and one completion text. Two cells with the same text under the
same prompt (a cold setting's seeds that say the same thing, or two configs that agree) are one item, rated
once, and the vote is written as one line per cell, so every config's score counts it. The order is a shuffle
with a seed (by default the rater's own, so two raters do not see the same order), and whatever the rater has
already voted on or skipped is left out: reopening the page, or restarting the server, goes on where it stopped,
and no completion is shown to a rater twice. An item some of whose cells were seen before (a config added since
shares a completion with one rated) is not shown again either.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pipeline.core.naming import ConfigName, parse_config_name
from pipeline.ratings.cells import ALL_CUT_OFF, Cell
from pipeline.ratings.lines import CellKey, Rating, RatingLine, cell_key, completion_sha256


@dataclass(frozen=True)
class Item:
    """What the page shows once: a setup, a completion, and the cells (configs, settings, seeds) that made it."""

    id: str
    prompt: str
    text: str
    cells: tuple[Cell, ...]

    @property
    def flag(self) -> str | None:
        """Why the text may look broken, said on the page so that it is rated as it is rather than skipped."""
        if not self.text.strip():
            return "empty: the model ended its turn without a word"
        shares = [cell.cut_off_share for cell in self.cells if cell.cut_off_share]
        if shares and min(shares) >= ALL_CUT_OFF:
            return "cut off: it ran to the token limit without ending"
        if shares:
            return (f"maybe cut off: {max(shares):.0%} of the completions at its setting ran to the token limit "
                    "without ending")
        return None

    @property
    def picture(self) -> tuple[str, str | None] | None:
        """The picture the caption was written for (path and recorded sha256): the same for every cell of an item,
        since the prompt's label names the picture."""
        first = self.cells[0]
        return (first.image, first.image_sha256) if first.image else None

    @property
    def keys(self) -> list[CellKey]:
        return [cell_key(c.config, c.prompt, c.setting, c.seed) for c in self.cells]


def item_id(prompt: str, text: str) -> str:
    return hashlib.sha256(f"{prompt}\0{text}".encode()).hexdigest()[:20]


def items_of(cells: Iterable[Cell]) -> list[Item]:
    """Cells grouped by setup and completion text, in the order each first appears."""
    grouped: dict[tuple[str, str], list[Cell]] = {}
    for cell in cells:
        grouped.setdefault((cell.prompt, cell.text), []).append(cell)
    return [Item(item_id(prompt, text), prompt, text, tuple(group)) for (prompt, text), group in grouped.items()]


def newest_of_families(names: Iterable[str]) -> list[str]:
    """The highest-numbered config of each family among `names` (basenames), in family order: what `haha rate`
    offers by default, the experiments people have not yet read."""
    newest: dict[str, ConfigName] = {}
    for name in names:
        if (parsed := parse_config_name(f"{name}.yml")) is not None:
            newest[parsed.family] = max(newest.get(parsed.family, parsed), parsed)
    return [newest[family].basename for family in sorted(newest)]


def rater_seed(rater: str) -> int:
    """Each rater's own shuffle, the same on every start."""
    return int(hashlib.sha256(rater.encode()).hexdigest()[:12], 16)


def shuffled(items: Sequence[Item], seed: int) -> list[Item]:
    """A blind order: sorted by id first, so the shuffle depends on the seed and the items, not on the configs'
    order on the command line."""
    order = sorted(items, key=lambda item: item.id)
    random.Random(seed).shuffle(order)
    return order


class Refused(StrEnum):
    ALREADY = "already voted on or skipped (in another tab?): not counted twice"
    UNKNOWN = "not an item of this session (the server was restarted with other configs?): reload the page"


@dataclass(frozen=True)
class Progress:
    rated: int
    skipped: int
    total: int


class Session:
    """The queue of one rater's server. Thread-safe: two tabs of the same rater vote through one lock, so a
    completion gets at most one vote however the tabs interleave."""

    def __init__(self, rater: str, items: Sequence[Item], earlier: Sequence[RatingLine],
                 write: Callable[[list[RatingLine]], None], now: Callable[[], datetime]) -> None:
        self.rater = rater
        self._items = {item.id: item for item in items}
        self._order = [item.id for item in items]
        self._write = write
        self._now = now
        self._lock = threading.Lock()
        seen_cells = {line.cell for line in earlier}
        rated_cells = {line.cell for line in earlier if line.rating is not None}
        self._done: dict[str, bool] = {}  # item id -> rated (True) or skipped (False)
        for item in items:
            keys = set(item.keys)
            if keys & seen_cells:
                self._done[item.id] = bool(keys & rated_cells)

    def next_item(self) -> Item | None:
        with self._lock:
            return next((self._items[i] for i in self._order if i not in self._done), None)

    def progress(self) -> Progress:
        with self._lock:
            rated = sum(self._done.values())
            return Progress(rated, len(self._done) - rated, len(self._order))

    def vote(self, chosen: str, rating: Rating | None) -> Refused | None:
        """Write the vote (None: a skip) for every cell of the item, once; a refusal says why nothing was written."""
        with self._lock:
            item = self._items.get(chosen)
            if item is None:
                return Refused.UNKNOWN
            if chosen in self._done:
                return Refused.ALREADY
            moment = self._now()
            self._write([RatingLine(rater=self.rater, prompt=cell.prompt, config=cell.config, seed=cell.seed,
                                    completion_sha256=completion_sha256(cell.text), setting=cell.setting,
                                    config_sha256=cell.config_sha256, rating=rating, time=moment)
                         for cell in item.cells])
            self._done[chosen] = rating is not None
            return None
