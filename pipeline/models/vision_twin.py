"""A random tiny twin of a vision-language config's architecture, for smoke runs on CPU.

A vision config (one that sets `processor_type`) trains through a processor: images become patch embeddings
that replace the image tokens of the chat template. The text twins (models/twin.py) and the embedded SmolLM2
have no vision tower and no processor, so a vision config's smoke run trains this instead, whatever
`--smoke-model` says: a LLaVA (CLIP vision tower, projector, Llama text model) at a few million parameters, its
image processor cropping to 56 x 56 pixels so a picture is 16 image tokens, and a processor chat template, so
that `AutoProcessor` and `AutoModelForImageTextToText` load the folder and Axolotl trains it with
`processor_type: AutoProcessor`.

LLaVA, not Qwen2-VL: transformers builds Qwen2-VL's processor with a video processor that needs torchvision,
which the pinned CPU stack does not install; LLaVA's processor is Pillow only.

When the base model's config.json and tokenizer are reachable (models/source.py) the twin shrinks that config
and keeps the real tokenizer; otherwise it shrinks transformers' default config for the family and uses the
embedded SmolLM2 tokenizer with the image token added. The description says which.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import HahaError
from pipeline.core.files import build_folder_once
from pipeline.core.settings import cache_root
from pipeline.models.smoke import SmokeModel, SmokeModelKind, vocabulary_of
from pipeline.models.source import base_model_files
from pipeline.models.twin import TWIN_SHAPE, shrink, twin_dir

MARKER = "haha-vision-twin.json"
# Bumped when the twin's shape or files change, so cached twins of an older build are not reused.
BUILD = 1
# The vision tower: two layers, because LLaVA reads the features of the second-to-last one.
VISION_SHAPE = {"num_hidden_layers": 2, "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
                "image_size": 56, "patch_size": 14}
IMAGE_TOKEN = "<image>"
# The chat templates Axolotl names for each vision family (`chat_template:`), by transformers model_type.
FAMILY_TEMPLATES = {"llava": "llava", "qwen2_vl": "qwen2_vl", "qwen2_5_vl": "qwen2_vl", "mllama": "llama3_2_vision",
                    "gemma3": "gemma3", "pixtral": "pixtral", "mistral3": "mistral_v7_tekken",
                    "smolvlm": "smolvlm2", "llama4": "llama4"}
TWIN_FAMILIES = frozenset({"llava"})


class VisionTwinError(HahaError):
    """No vision twin can be built for this config's architecture here; the message says why."""


def is_vision_config(config: Mapping[str, Any]) -> bool:
    """Axolotl loads a processor, and trains on images, only for a config that names `processor_type`."""
    return bool(config.get("processor_type"))


@dataclass(frozen=True)
class VisionSource:
    """What a twin is built from: the real description files, or transformers' defaults for the family."""

    model_type: str
    folder: Path | None  # the base model's config.json and tokenizer, when reachable
    origin: str  # "HF cache", "Hub", "local folder", or why the defaults are used


def family_of(config: Mapping[str, Any]) -> str:
    """The transformers model_type a vision config's chat template names (Axolotl's family templates); llava for a
    config that names none. Pure: no model files are read."""
    template = str(config.get("chat_template") or "")
    by_template = {name: model_type for model_type, name in FAMILY_TEMPLATES.items()}
    return by_template.get(template, "llava" if template in ("", "tokenizer_default") else template)


def needs_torchvision(config: Mapping[str, Any]) -> bool:
    """transformers builds the processor of a family with videos (Qwen2-VL, SmolVLM, ...) with its video processor,
    and every video processor imports torchvision, pictures only or not."""
    if not is_vision_config(config):
        return False
    from pipeline.core.quiet import quiet_libraries

    with quiet_libraries():  # transformers' video module imports torchvision's neighbours, loudly
        from transformers.models.auto.video_processing_auto import VIDEO_PROCESSOR_MAPPING_NAMES

    return family_of(config) in VIDEO_PROCESSOR_MAPPING_NAMES


def vision_source(config: Mapping[str, Any]) -> VisionSource:
    files = base_model_files(dict(config))
    if files.folder is not None:
        model_type = json.loads((files.folder / "config.json").read_text(encoding="utf-8")).get("model_type", "")
        return VisionSource(str(model_type), files.folder, f"from the {files.origin}")
    model_type = family_of(config)
    return VisionSource(model_type, None, f"transformers' default {model_type} config, embedded SmolLM2 tokenizer; "
                                          f"{files.reason}")


def vision_twin_dir(source: VisionSource, name: str) -> Path:
    if source.folder is not None:
        folder = twin_dir(source.folder, name)
        return folder.with_name(f"vision-{folder.name}-b{BUILD}")
    digest = hashlib.sha256(json.dumps([BUILD, TWIN_SHAPE, VISION_SHAPE]).encode()).hexdigest()[:12]
    return cache_root() / "twins" / f"vision-default-{source.model_type}-{digest}"


def _chat_template(source: VisionSource, family_template: str) -> str:
    """The real model's template when its files have one, else the one Axolotl uses for the family."""
    if source.folder is not None:
        for path in sorted(source.folder.glob("chat_template.*")):
            text = path.read_text(encoding="utf-8")
            return str(json.loads(text).get("chat_template", "")) if path.suffix == ".json" else text
    from axolotl.utils.chat_templates import get_chat_template

    return str(get_chat_template(family_template))


def build(source: VisionSource, out_dir: Path, seed: int = 0) -> dict[str, Any]:
    """Write the twin's weights, tokenizer and processor into `out_dir`; returns what the marker records."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoTokenizer, LlavaConfig, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from pipeline.models.embedded import prepare_base_model

    tokenizer = AutoTokenizer.from_pretrained(str(source.folder or prepare_base_model()))
    if IMAGE_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    config = LlavaConfig.from_pretrained(str(source.folder)) if source.folder is not None else LlavaConfig()
    shrink(config.text_config)
    config.text_config.vocab_size = len(tokenizer)
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(config.text_config, key, getattr(tokenizer, key))
    for key, value in VISION_SHAPE.items():
        setattr(config.vision_config, key, value)
    config.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    config.dtype = "float32"
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    side = VISION_SHAPE["image_size"]
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": side}, crop_size={"height": side, "width": side}),
        tokenizer=tokenizer, patch_size=VISION_SHAPE["patch_size"],
        vision_feature_select_strategy=config.vision_feature_select_strategy, num_additional_image_tokens=1,
        chat_template=_chat_template(source, FAMILY_TEMPLATES["llava"]))
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    if source.folder is not None and (generation := source.folder / "generation_config.json").is_file():
        shutil.copyfile(generation, out_dir / generation.name)
    return {"model_type": config.model_type, "parameters": model.num_parameters(),
            "image_token": IMAGE_TOKEN, "image_token_id": config.image_token_id,
            "image_tokens_per_image": (side // VISION_SHAPE["patch_size"]) ** 2}


def ensure_vision_twin(config: Mapping[str, Any]) -> SmokeModel:
    """The vision twin of a config's base model, built into the haha cache on first use (seconds), reused after."""
    from pipeline.core.quiet import quiet_libraries

    source = vision_source(config)
    if source.model_type not in TWIN_FAMILIES:
        families = ", ".join(sorted(TWIN_FAMILIES))
        raise VisionTwinError(f"no vision twin of a '{source.model_type}' model can be built here (haha builds "
                              f"{families}; Qwen2-VL's processor needs torchvision, which the CPU stack lacks): "
                              "smoke-test this config on a GPU runner")
    name = str(config.get("base_model") or source.model_type)

    def build_marked(staging: Path) -> None:
        with quiet_libraries():
            facts = build(source, staging)
        (staging / MARKER).write_text(json.dumps({"source": source.origin, **facts}))

    folder = build_folder_once(vision_twin_dir(source, name), MARKER, build_marked)
    return SmokeModel(SmokeModelKind.VISION_TWIN, folder,
                      f"random tiny {source.model_type} vision twin of {name} ({source.origin})", vocabulary_of(folder))
