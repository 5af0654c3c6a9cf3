"""`train/results/index.html`: one self-contained page, the template (inline CSS and JS) with the data embedded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from importlib import resources
from typing import Any

from pipeline.core.strict_json import dumps_strict
from pipeline.data.thumbnails import Thumbnail, thumbnail_key
from pipeline.formats.results import JudgeScores, PairwiseJudgment, Scalar
from pipeline.ratings.figures import MIN_VOTES
from pipeline.results.entries import (
    SIGNALS,
    Entry,
    Scan,
    hyperparameter_rows,
    judge_view,
    overall_quality,
    prompt_key,
    quality_of,
    repeated_by_label,
    seed_of,
    setting_labels,
)
from pipeline.results.human import HumanView, agreement_text, human_view, preference_text, score_text
from pipeline.results.values import format_signal, format_time, hub_link, rounded_value, setting_label, wandb_link

TEMPLATE = "results-index.html"
DATA_MARKER = "__HAHA_DATA__"


def index_payload(scan: Scan) -> dict[str, Any]:
    """Everything the page shows, as one JSON object; values are pre-formatted so the page and README agree."""
    docs = [entry.doc for entry in scan.entries]
    rows = hyperparameter_rows([entry.hyperparameters for entry in scan.entries])
    judged = judge_view(scan.entries)
    human = human_view(scan.entries, scan.ratings)
    return {
        "keys": list(rows),
        "settings": setting_labels(docs),
        "judge": judged.label if judged else None,
        "human": _human_payload(human) if human else None,
        "configs": [_config_payload(entry, {key: values[i] for key, values in rows.items()},
                                    judged.scores.get(entry.name) if judged else None)
                    | {"human": _human_config_payload(human, entry.name) if human else None}
                    for i, entry in enumerate(scan.entries)],
        "thumbnails": {key: _thumbnail_payload(found) for key, found in scan.thumbnails.items()},
        "broken": [str(broken) for broken in scan.broken],
        "failed": [f"{name}: {record.describe()}" for name, record in sorted(scan.failures.items())],
    }


def _thumbnail_payload(found: Thumbnail) -> dict[str, Any]:
    """A picture as the page shows it: its recorded path and the data URI, or the word saying why there is none."""
    return {"image": found.image, "src": found.src, "refused": str(found.refused) if found.refused else None,
            "why": found.why}


def _reward_payload(scores: JudgeScores | None) -> dict[str, Any] | None:
    """The judge's mean reward, and every completion's reward in results order (prompt, setting, seed) for the
    page's win rates: two configs scored by one judge on one sweep line up cell by cell."""
    if scores is None:
        return None
    return {"mean": scores.mean_reward,
            "cells": [reward for settings in scores.rewards for seeds in settings for reward in seeds]}


def _human_payload(human: HumanView) -> dict[str, Any]:
    """People's votes over all configs: who rated, how each machine judge agrees with them, what did not count."""
    return {"votes": human.votes, "raters": list(human.raters), "minVotes": MIN_VOTES,
            "agreements": [{"judge": found.judge, "text": agreement_text(found)} for found in human.agreements],
            "notCounted": human.not_counted}


def _human_config_payload(human: HumanView, name: str) -> dict[str, Any]:
    """One config's human score (the 1-3 mean, or why there is none) and how often people preferred its
    completions to each other rated config's, prompt by prompt."""
    score = human.scores.get(name)
    return {"score": score_text(score), "mean": score.mean if score else None, "n": score.n if score else 0,
            "preferred": {found.second: preference_text(found) for found in human.preferences if found.first == name}}


def _judgment_payload(judgment: PairwiseJudgment) -> dict[str, Any]:
    """An LLM judge's verdicts against one other config, the figures written as people read them."""
    low, high = judgment.interval
    first = judgment.first_position_share
    agreement = judgment.reward_agreement
    return {
        "judge": judgment.judge, "model": judgment.model, "other": judgment.other, "n": judgment.n,
        "wins": judgment.wins, "losses": judgment.losses, "ties": judgment.ties, "unreadable": judgment.unreadable,
        "winRate": judgment.win_rate, "interval": f"{low:.0%} … {high:.0%}",
        "firstShown": "—" if first is None else f"{first:.0%}",
        "lengths": f"{judgment.mean_length:.0f} / {judgment.other_mean_length:.0f}",
        "rewardAgreement": "—" if agreement is None else f"{agreement:.0%} of {judgment.reward_pairs}",
        "verdicts": [{"prompt": v.prompt, "setting": setting_label(v.setting), "seed": v.seed,
                      "winner": str(v.winner), "reason": v.reason} for v in judgment.verdicts],
    }


def _config_payload(entry: Entry, values: Mapping[str, Scalar], scores: JudgeScores | None) -> dict[str, Any]:
    doc, meta = entry.doc, entry.doc.meta
    overall = overall_quality(doc)
    hub = hub_link(meta.hub_repo, meta.adapter_source) if meta else None
    run = wandb_link(meta.wandb_run if meta else None)
    return {
        "name": entry.name,
        "values": {key: rounded_value(value) for key, value in values.items()},
        "hub": asdict(hub) if hub else None,
        "wandb": asdict(run) if run else None,
        "finished": format_time(entry.finished),
        "datedBy": str(entry.dated_by),
        "hyperparametersFrom": entry.hyperparameters_from,
        "reference": entry.reference,
        "repeated": repeated_by_label(doc),
        "reward": _reward_payload(scores),
        "judgments": [_judgment_payload(judgment) for judgment in doc.judgments],
        "quality": {label: format_signal(name, overall[name]) for label, name in SIGNALS},
        "loss": [[step, loss] for step, loss in zip(meta.training_loss.steps, meta.training_loss.loss, strict=False)]
        if meta and meta.training_loss else None,
        "rewardCurve": [[step, reward] for step, reward in zip(meta.training_loss.steps, meta.training_loss.reward,
                                                                strict=False)]
        if meta and meta.training_loss and meta.training_loss.reward else None,
        "qualityBySetting": [{"setting": setting_label(q.setting), "temperature": q.setting.get("temperature"),
                              **q.model_dump(include={
            "empty_share", "never_stopped_share", "repeated_share", "distinct_2", "mean_chars"})}
            for q in quality_of(doc)],
        "results": [
            {
                "prompt": prompt.prompt,
                "key": prompt_key(prompt),
                "thumbnail": thumbnail_key(prompt.image, prompt.image_sha256) if prompt.image is not None else None,
                "settings": {
                    setting_label(result.setting): [
                        [seed_of(doc, i), text] for i, text in enumerate(result.completions)
                    ]
                    for result in prompt.settingsResults
                },
            }
            for prompt in doc.results
        ],
    }


def script_json(payload: Any) -> str:
    """JSON safe inside a <script> element: no `<`, `>` or `&` can end it or open a comment.

    `\\u003c` is the same string to JSON.parse, so nothing is lost. Strict: a NaN would make JSON.parse, and
    so the whole page, fail; the results reader refuses one, and this is the last line of that defence.
    """
    text = dumps_strict(payload, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(scan: Scan) -> str:
    """One self-contained page: the template (inline CSS and JS) with the data embedded; no network needed."""
    template = resources.files("pipeline.results").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")
    head, tail = template.split(DATA_MARKER)
    return head + script_json(index_payload(scan)) + tail
