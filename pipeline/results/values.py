"""How the values in results files and configs read to a person: config values, sampling settings, signals,
times, a training loss, and the Hub and W&B links. Pure: values in, text out.

Config values are shown two ways. A table (the index, `haha compare`) rounds them to what a reader takes in,
and two values that round alike are no difference worth a column (`rounded_value`). A reason a config is
pending shows every digit, since a drift past the sixth one is still what made it pending (`exact_value`).
Both read YAML's `1e-5` string as the number it is (core/numbers.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.core.naming import is_hub_id
from pipeline.core.numbers import as_number
from pipeline.formats.tracking import WANDB_URL, WandbRef

HUB_URL = "https://huggingface.co/"
# `entity/project/run_id`, the one form of `meta.wandb_run` that becomes a link (and its page's address).
WANDB_PART = r"[A-Za-z0-9_.-]+"
WANDB_RUN_PATH = re.compile(rf"({WANDB_PART})/({WANDB_PART})/({WANDB_PART})\Z")
WANDB_RUN_URL = re.compile(rf"{re.escape(WANDB_URL)}({WANDB_PART})/({WANDB_PART})/runs/({WANDB_PART})/?\Z")


def _config_value(value: object, unset: str, number: Callable[[float], str]) -> str:
    if value is None or value == "":
        return unset
    if isinstance(value, bool):
        return "true" if value else "false"  # as YAML spells it
    if isinstance(value, float | str) and (parsed := as_number(value)) is not None:
        return number(parsed)
    return str(value)


def rounded_value(value: object) -> str:
    """A config value in a table: six significant digits, `—` when unset."""
    return _config_value(value, "—", lambda number: f"{number:g}")


def exact_value(value: object) -> str:
    """A config value in a sentence about what changed: every digit, `unset` when unset."""
    return _config_value(value, "unset", repr)


def setting_label(setting: Mapping[str, Any]) -> str:
    """`t=0.9 top_p=0.95`: temperature first, since the sweep is mostly over it."""
    rest = [f"{key}={rounded_value(value)}" for key, value in setting.items() if key != "temperature"]
    return " ".join([f"t={rounded_value(setting.get('temperature'))}", *rest])


def percent(share: float) -> str:
    return f"{share:.0%}"


def format_signal(field_name: str, value: float | None) -> str:
    """A quality signal (a `Quality` field) in its unit."""
    if value is None:
        return "—"
    if field_name == "mean_chars":
        return f"{value:.0f} chars"
    return f"{value:.2f}" if field_name == "distinct_2" else percent(value)


def loss_change(losses: Sequence[float]) -> str | None:
    """`3.962 → 3.104`: a training loss from its first logged step to its last, or None when none was logged.

    The one way haha shows a loss moving, in the index's README and the run's closing table alike; each table
    chooses its own blank for None.
    """
    return f"{losses[0]:.3f} → {losses[-1]:.3f}" if losses else None


def format_time(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "unknown"


# ---- links ----


@dataclass(frozen=True)
class Link:
    text: str
    url: str | None


def hub_link(repo: str | None, source: str | None = None) -> Link | None:
    """A Hub repo id (or its huggingface.co address) links to huggingface.co; a push to a local hub folder
    (`source` a file: URL), or anything that is not a repo id, is shown as written, never linked."""
    if not repo:
        return None
    if repo.startswith(HUB_URL) and is_hub_id(repo.removeprefix(HUB_URL)):
        return Link(repo.removeprefix(HUB_URL), repo)
    on_hub = is_hub_id(repo) and not (source or "").startswith("file:")
    return Link(repo, HUB_URL + repo if on_hub else None)


def wandb_link(run: str | None) -> Link | None:
    """Only `entity/project/run_id` (or that run's wandb.ai address) is linked, and to the address built from
    its parts; anything else (a bare run name, another address) stays text."""
    if not run:
        return None
    if match := WANDB_RUN_URL.match(run) or WANDB_RUN_PATH.match(run):
        entity, project, run_id = match.groups()
        return Link(run_id, WandbRef(project, run_id, entity, run_id).url)
    return Link(run, None)
