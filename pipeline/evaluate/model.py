"""The model an eval runs on: the base model with the adapter, loaded once for every task.

In bf16 (fp32 on CPU) with the adapter merged when that fits one GPU; otherwise the way training loaded the base
(4- or 8-bit bitsandbytes) with the adapter left unmerged, spread over the job's GPUs (`device_map="auto"`).
The choice is `eval_load` (pure, plan/estimate.py's `eval_plan` on the GPU's real memory).

A config that trains on pictures (`processor_type` set, as Axolotl requires for them) is loaded as an
image-text-to-text model with its processor, which turns a prompt's picture into the model's inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core.errors import HahaError
from pipeline.core.runner_settings import LoadIn
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
    load: LoadIn = "16bit"  # 4bit/8bit: the base quantized as training had it, the adapter unmerged
    # The largest batch that has run without running out of GPU memory (the sweep halves it on OOM).
    batch_limit: list[int] = field(default_factory=list)
    processor: Any = None  # a vision model's processor (ProcessorMixin): pictures and text to the model's inputs

    @property
    def context(self) -> int:
        """Positions the model was built for; the tokenizer's limit for architectures that don't say."""
        text = self.model.config.get_text_config()  # a vision model's language half; a text model itself
        return int(getattr(text, "max_position_embeddings", None) or self.tokenizer.model_max_length)

    def describe(self) -> str:
        """`cuda (NVIDIA H100 80GB HBM3), bfloat16`: part of a results file's provenance and of the resume key."""
        import torch

        device = self.model.device
        name = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
        quantized = f", {self.load} bitsandbytes base" if self.load != "16bit" else ""
        return f"{device.type}{name}, {str(self.model.dtype).removeprefix('torch.')}{quantized}"

    def decode_all(self, outputs: Sequence[Sequence[int]]) -> list[str]:
        from pipeline.evaluate.sampling import decode

        return [decode(self.tokenizer, ids) for ids in outputs]


# Files a processor is saved as: Axolotl saves the processor it trained with beside the adapter.
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")


def check_adapter(adapter_dir: Path | None) -> None:
    if adapter_dir is not None and (problem := adapter_problem(adapter_dir)) is not None:
        raise EvalError(f"{problem}: not a LoRA adapter folder (it needs {' and '.join(ADAPTER_FILES)})")


def eval_load(config: Mapping[str, Any], gpu_memory_gb: float | None) -> LoadIn:
    """How the eval loads this config's base: bf16 when it fits one GPU of `gpu_memory_gb`, else as training did.

    Pure given the model's shape (config.json when at hand, else its name); None (no CUDA) is always 16-bit.
    """
    from pipeline.config.sizing import model_shape
    from pipeline.plan.estimate import eval_plan
    from pipeline.plan.runners import load_in

    shape = model_shape(config)
    if gpu_memory_gb is None or shape is None:
        return "16bit"
    return eval_plan(shape, load_in(config), gpu_memory_gb)[0]


def gpu_memory_gb() -> float | None:
    """One GPU's total memory, or None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    return float(torch.cuda.mem_get_info(0)[1]) / 1e9


def _quantization(load: LoadIn, cuda: bool) -> dict[str, Any]:
    """from_pretrained's arguments for a quantized base on CUDA (bitsandbytes has no CPU path worth using)."""
    if load == "16bit" or not cuda:
        return {}
    import torch
    from transformers import BitsAndBytesConfig

    config = (BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                 bnb_4bit_compute_dtype=torch.bfloat16) if load == "4bit"
              else BitsAndBytesConfig(load_in_8bit=True))
    return {"quantization_config": config, "device_map": "auto"}


def load_model(base_model: str, adapter_dir: Path | None, scorer: bool = False, load: LoadIn = "16bit",
               vision: bool = False) -> ModelHandle:
    """Base model plus the adapter, in eval mode: merged in (one matmul per layer instead of two) on a bf16 or fp32
    base; unmerged on a quantized one. Several GPUs share a model that one cannot hold (`device_map="auto"`).

    The tokenizer comes from the adapter folder when training saved one there: that is the
    tokenizer the model was trained with (Axolotl may have added a pad token). With `vision`, the model is an
    image-text-to-text one and the tokenizer is its processor's (from the adapter folder likewise).
    """
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForImageTextToText,
        AutoModelForSequenceClassification,
        AutoProcessor,
        AutoTokenizer,
    )

    from pipeline.evaluate.sampling import stop_token_ids

    check_adapter(adapter_dir)
    cuda = torch.cuda.is_available()
    load = load if cuda else "16bit"
    placement = _quantization(load, cuda) or ({"device_map": "auto"} if cuda and torch.cuda.device_count() > 1
                                               else {})
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    tokenizer_source = adapter_dir if adapter_dir and (adapter_dir / "tokenizer_config.json").is_file() else base_model
    processor = None
    try:
        if vision:
            saved = adapter_dir is not None and any((adapter_dir / name).is_file() for name in PROCESSOR_FILES)
            processor = AutoProcessor.from_pretrained(str(adapter_dir if saved else base_model))
            tokenizer = processor.tokenizer
            model = AutoModelForImageTextToText.from_pretrained(str(base_model), dtype=dtype, **placement)
        elif scorer:
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source))
            model = AutoModelForSequenceClassification.from_pretrained(str(base_model), dtype=dtype, num_labels=1,
                                                                       **placement)
        else:
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source))
            model = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=dtype, **placement)
    except (OSError, ValueError, RuntimeError, ImportError) as exc:  # a missing folder, a repo id offline, a gated
        # repo, a processor whose library is not installed
        raise EvalError(f"cannot load the base model {base_model!r}: {exc}") from None
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir))
        if load == "16bit":
            model = model.merge_and_unload()
    if not placement:
        model = model.to("cuda" if cuda else "cpu")
    model = model.eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if scorer:
        model.config.pad_token_id = int(pad)  # the classifier reads the last non-pad token of each row
        return ModelHandle(model, tokenizer, frozenset(), int(pad), scorer=True, load=load)
    return ModelHandle(model, tokenizer, stop_token_ids(tokenizer, model), int(pad), load=load, processor=processor)


def backend_name() -> str:
    import peft
    import torch
    import transformers

    from pipeline.evaluate.sampling import SAMPLER_VERSION

    return (f"haha batched sampler v{SAMPLER_VERSION}; transformers {transformers.__version__}, "
            f"peft {peft.__version__}, torch {torch.__version__}")
