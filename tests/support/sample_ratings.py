"""Results folders and ratings for the ratings tests, made by the code's own writers (sample_results, RatingLine)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.core.runs import AdapterRef
from pipeline.formats.results import JudgeScores, ResultsDoc, dumps_results
from pipeline.ratings.lines import Rating, RatingLine, completion_sha256
from tests.support.sample_results import PROMPTS, SETTINGS, results_doc, write_doc

JUDGE = AdapterRef(basename="haha-rm-001", repo_id="haha-lab/haha-rm-001", revision="1234567890abcdef")
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def results_folder(root: Path, names: Iterable[str], rewards: dict[str, float] | None = None) -> Path:
    """`<root>/train/results` with a sample results file per name (2 prompts x 2 settings x 3 seeds, every text
    distinct); with `rewards`, the reward judge scored each config's completions at that mean."""
    folder = root / "train" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        doc = ResultsDoc.model_validate(results_doc(name))
        if rewards is not None:
            reward = rewards[name]
            doc.judge = JudgeScores(judge=JUDGE, mean_reward=reward, n=12, rewards=[[[reward] * 3] * 2] * 2)
        write_doc(folder, name, json.loads(dumps_results(doc)))
    return folder


def vote(rater: str, name: str, prompt: int, setting: int, seed: int, rating: Rating | None,
         minute: int = 0) -> RatingLine:
    """A vote on sample_results' completion of `name` at (prompt, setting, seed), as `haha rate` writes it."""
    text = f"{name} joke {prompt}.{setting}.{seed}"
    return RatingLine(rater=rater, prompt=PROMPTS[prompt], completion_sha256=completion_sha256(text), config=name,
                      config_sha256="0" * 64, setting=SETTINGS[setting], seed=seed, rating=rating,
                      time=START + timedelta(minutes=minute))


def every_cell(rater: str, name: str, rating: Rating) -> list[RatingLine]:
    return [vote(rater, name, p, s, k, rating) for p in range(2) for s in range(2) for k in (1, 2, 3)]


def write_ratings(folder: Path, rater: str, lines: Iterable[RatingLine]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{rater}.jsonl"
    path.write_text("".join(line.to_line() for line in lines), encoding="utf-8")
    return path
