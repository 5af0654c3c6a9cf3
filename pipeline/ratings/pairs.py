"""Preference pairs from people's ratings: what `haha pairs-from-ratings` writes to train/data. Pure.

Within one prompt, a completion rated higher becomes `chosen` and one rated lower `rejected`. A completion's rating
is the mean over the raters who rated it (each rater once, however many cells shared the text); completions
rated the same make no pair. The rows have the fields the repo's preference data already has (`system`, `input`,
`chosen`, `rejected`): a DPO config reads them with `type: chatml.icr`, a Bradley-Terry reward config with
`type: bradley_terry.chat_template`, so ratings close the loop generate → rate → train → generate again.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from pipeline.ratings.cells import Vote

# The haha configs' system prompt (train/config/haha-llama-3-8b-*-001.yml): the turn the completions answered.
DEFAULT_SYSTEM = "You are a comedian. Finish the joke with one short punchline."


def mean_ratings(votes: Sequence[Vote]) -> dict[str, dict[str, float]]:
    """Each prompt's completions (in the order first voted on) with their mean rating over raters."""
    by_rater: dict[str, dict[str, dict[str, int]]] = {}
    for vote in votes:
        texts = by_rater.setdefault(vote.line.prompt, {}).setdefault(vote.text, {})
        texts.setdefault(vote.line.rater, int(vote.rating))
    return {prompt: {text: sum(raters.values()) / len(raters) for text, raters in texts.items()}
            for prompt, texts in by_rater.items()}


def preference_pairs(votes: Sequence[Vote], system: str = DEFAULT_SYSTEM) -> list[dict[str, str]]:
    """Every (higher, lower) pair of differently rated completions of each prompt, prompts in first-voted order,
    then the better-rated chosen first."""
    rows = []
    for prompt, texts in mean_ratings(votes).items():
        ranked = sorted(texts.items(), key=lambda item: -item[1])
        for (chosen, high), (rejected, low) in combinations(ranked, 2):
            if high > low:
                rows.append({"system": system, "input": prompt, "chosen": chosen, "rejected": rejected})
    return rows
