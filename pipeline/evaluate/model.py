"""The model an eval runs on: the base model with the adapter merged in, loaded once for every task."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.core.errors import HahaError
from pipeline.core.runs import ADAPTER_FILES, adapter_problem

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class EvalError(HahaError):
    """The eval cannot run as asked; the message says what to change."""


@dataclass(frozen=True)
class ModelHandle:
    """A loaded model and what every task asks of it: its tokenizer, where it runs, its stop and pad ids."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    stop_ids: frozenset[int]
    pad_id: int
    scorer: bool = False  # a reward model: it scores text, it does not generate

    @property
    def context(self) -> int:
        """Positions the model was built for; the tokenizer's limit for architectures that don't say."""
        return int(getattr(self.model.config, "max_position_embeddings", None) or self.tokenizer.model_max_length)

    def describe(self) -> str:
        """`cuda (NVIDIA H100 80GB HBM3), bfloat16`: part of a results file's provenance and of the resume key."""
        import torch

        device = self.model.device
        name = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
        return f"{device.type}{name}, {str(self.model.dtype).removeprefix('torch.')}"

    def decode_all(self, outputs: Sequence[Sequence[int]]) -> list[str]:
        from pipeline.evaluate.sampling import decode

        return [decode(self.tokenizer, ids) for ids in outputs]


def check_adapter(adapter_dir: Path | None) -> None:
    if adapter_dir is not None and (problem := adapter_problem(adapter_dir)) is not None:
        raise EvalError(f"{problem}: not a LoRA adapter folder (it needs {' and '.join(ADAPTER_FILES)})")


def load_model(base_model: str, adapter_dir: Path | None, scorer: bool = False) -> ModelHandle:
    """Base model plus the adapter merged in (one matmul per layer instead of two), in eval mode.

    The tokenizer comes from the adapter folder when training saved one there: that is the
    tokenizer the model was trained with (Axolotl may have added a pad token).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    from pipeline.evaluate.sampling import stop_token_ids

    check_adapter(adapter_dir)
    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    tokenizer_source = adapter_dir if adapter_dir and (adapter_dir / "tokenizer_config.json").is_file() else base_model
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source))
        if scorer:
            model = AutoModelForSequenceClassification.from_pretrained(str(base_model), dtype=dtype, num_labels=1)
        else:
            model = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=dtype)
    except (OSError, ValueError, RuntimeError) as exc:  # a missing folder, a repo id offline, a gated repo
        raise EvalError(f"cannot load the base model {base_model!r}: {exc}") from None
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    model = model.to("cuda" if cuda else "cpu").eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if scorer:
        model.config.pad_token_id = int(pad)  # the classifier reads the last non-pad token of each row
        return ModelHandle(model, tokenizer, frozenset(), int(pad), scorer=True)
    return ModelHandle(model, tokenizer, stop_token_ids(tokenizer, model), int(pad))


def backend_name() -> str:
    import peft
    import torch
    import transformers

    from pipeline.evaluate.sampling import SAMPLER_VERSION

    return (f"haha batched sampler v{SAMPLER_VERSION}; transformers {transformers.__version__}, "
            f"peft {peft.__version__}, torch {torch.__version__}")
