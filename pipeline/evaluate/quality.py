"""Quality signals per setting, the failures a reader of raw completions would otherwise count by eye:

- empty share: completions with no text (a model that ends its turn at once);
- never-stopped share: completions that hit `max_new_tokens` without an end-of-turn token (a model
  that never stops; known only for sweeps that recorded it);
- repeated share: completions identical to another seed's for the same prompt, empties excluded;
- distinct-2: distinct word bigrams over all bigrams (Li et al., 2016): low means the same phrases
  come back whatever the prompt;
- mean length in characters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from pipeline.formats.results import PromptResult, Quality, repeated_share, setting_key

# (prompt index, setting index, seed index) -> the completion ran to max_new_tokens without stopping.
HitLimit = Mapping[tuple[int, int, int], bool]


def distinct_2(texts: Sequence[str]) -> float:
    words = [text.lower().split() for text in texts]
    bigrams = [pair for row in words for pair in pairwise(row)]
    return len(set(bigrams)) / len(bigrams) if bigrams else 0.0


def quality(results: Sequence[PromptResult], hit_limit: HitLimit | None = None) -> list[Quality]:
    """The signals per setting over all prompts, in the order the settings first appear."""
    settings: dict[str, dict[str, Any]] = {}
    by_setting: dict[str, list[list[str]]] = {}
    stopped_flags: dict[str, list[bool]] = {}
    for p, prompt in enumerate(results):
        for s, result in enumerate(prompt.settingsResults):
            key = setting_key(result.setting)
            settings.setdefault(key, result.setting)
            by_setting.setdefault(key, []).append(result.completions)
            if hit_limit is not None:
                stopped_flags.setdefault(key, []).extend(hit_limit.get((p, s, k), False)
                                                         for k in range(len(result.completions)))
    found = []
    for key, setting in settings.items():
        texts = [text for completions in by_setting[key] for text in completions]
        count = len(texts) or 1
        flags = stopped_flags.get(key)
        found.append(Quality(
            setting=setting, completions=len(texts),
            empty_share=round(sum(1 for text in texts if not text.strip()) / count, 4),
            never_stopped_share=round(sum(flags) / count, 4) if flags is not None else None,
            repeated_share=round(repeated_share(by_setting[key]), 4), distinct_2=round(distinct_2(texts), 4),
            mean_chars=round(sum(len(text) for text in texts) / count, 1)))
    return found
