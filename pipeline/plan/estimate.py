"""How much GPU memory and time a config needs, estimated from the config before any GPU is touched.

A 70B config planned onto a 24 GB runner should fail in the pull request, not after a 140 GB download.
The estimate is deliberately simple and says what it assumed, so an operator can check it against the
memory and seconds a run records (`meta.cost`, `haha doctor`) and correct the runner class's figures:

- **weights**: parameters (from the base model's config.json when it is at hand, else the size in its
  name) x bytes per parameter for the way they are loaded: 4-bit ~0.58 (NF4 blocks, double quantization,
  embeddings and norms left in 16-bit), 8-bit ~1.1, 16-bit 2; divided over the GPUs under ZeRO-3 or FSDP.
- **adapter**: LoRA parameters (r x (in + out) per targeted linear layer) at 16 bytes each: fp32 weights,
  gradients and Adam's two moments.
- **activations**: per micro-batch token and layer, 4 bytes kept with gradient checkpointing (the layer
  input, recomputed later) or ~34 x hidden bytes without, plus one layer's working set and the fp32 logits.
- **overhead**: the CUDA context and allocator slack, 1.5 GB.

The eval loads the base in bf16 when that fits one GPU, else the way training loaded it (4- or 8-bit), and
adds the key/value cache of one generation batch. GPU-hours are tokens x epochs x 6 x parameters ÷ the runner
class's sustained FLOP/s, the usual estimate for a forward and backward pass.

Pure: the caller reads config.json and counts tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.core.runner_settings import LoadIn, RunnerClass

GB = 1e9
BYTES_PER_PARAM: dict[LoadIn, float] = {"4bit": 0.58, "8bit": 1.1, "16bit": 2.0}
ADAPTER_BYTES = 16  # fp32 weight + gradient + Adam's two moments, per trainable parameter
OVERHEAD_GB = 1.5
CHECKPOINTED_BYTES = 4  # per token and layer: the bf16 layer input kept for recomputation (and its gradient)
UNCHECKPOINTED_FACTOR = 34  # per token, layer and hidden unit, in bytes, without recomputation
FIT_SHARE = 0.95  # the share of a GPU's memory a run may plan to use
EVAL_TOKENS = 512  # prompt and completion tokens of one eval sequence, for the key/value cache
EVAL_BATCH = 16


@dataclass(frozen=True)
class Shape:
    """The base model's size: parameters and, when its config.json was read, the layer shape."""

    params: float  # parameters
    source: str  # "config.json" | "its name"
    hidden: int | None = None
    layers: int | None = None
    intermediate: int | None = None
    vocab: int | None = None
    kv_dim: int | None = None  # key/value heads x head size

    @property
    def params_b(self) -> float:
        return self.params / 1e9


def shape_from_config(config: Mapping[str, Any]) -> Shape | None:
    """Parameters counted from a transformers config.json (dense or mixture-of-experts decoders)."""
    text = config.get("text_config") if isinstance(config.get("text_config"), Mapping) else config
    try:
        hidden, layers = int(text["hidden_size"]), int(text["num_hidden_layers"])
        vocab = int(text.get("vocab_size") or 32000)
        intermediate = int(text.get("intermediate_size") or 4 * hidden)
        heads = int(text.get("num_attention_heads") or 1)
        head_dim = int(text.get("head_dim") or hidden // heads)
        kv_dim = int(text.get("num_key_value_heads") or heads) * head_dim
    except (KeyError, TypeError, ValueError):
        return None
    experts = int(text.get("num_local_experts") or text.get("num_experts") or 1)
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_dim
    mlp = 3 * hidden * intermediate * experts
    embeddings = vocab * hidden * (1 if text.get("tie_word_embeddings") else 2)
    return Shape(layers * (attention + mlp) + embeddings, "config.json", hidden, layers, intermediate, vocab, kv_dim)


def shape_from_size(params_b: float) -> Shape:
    """A shape from the size in a model's name, with a Llama-like layout of that size for the other figures."""
    hidden = 4096 if params_b < 20 else 8192
    layers = max(1, round(params_b * 1e9 / (12 * hidden * hidden)))
    return Shape(params_b * 1e9, "its name", hidden, layers, int(3.5 * hidden), 32000, hidden // 4)


def lora_params(config: Mapping[str, Any], shape: Shape) -> float:
    """Trainable LoRA parameters: r x (in + out) for each targeted linear layer of every layer."""
    if config.get("adapter") not in ("lora", "qlora") or shape.hidden is None or shape.layers is None:
        return 0.0
    rank = int(config.get("lora_r") or 8)
    h, i, kv = shape.hidden, shape.intermediate or 4 * shape.hidden, shape.kv_dim or shape.hidden
    sizes = {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h), "gate_proj": (h, i),
             "up_proj": (h, i), "down_proj": (i, h)}
    targets = config.get("lora_target_modules")
    if config.get("lora_target_linear") or not isinstance(targets, list):
        chosen = list(sizes.values())
    else:
        chosen = [sizes.get(str(name), (h, h)) for name in targets]
    return float(rank * sum(a + b for a, b in chosen) * shape.layers)


def sharded_over(config: Mapping[str, Any], gpus: int, zero_stage: int | None) -> int:
    """How many GPUs share the weights: ZeRO-3 and FSDP shard them, everything else copies them to each GPU."""
    if gpus > 1 and (zero_stage == 3 or config.get("fsdp") or config.get("fsdp_config")):
        return gpus
    return 1


@dataclass(frozen=True)
class Memory:
    """Peak GPU memory of one process, in GB, by part."""

    weights: float
    adapter: float
    activations: float
    overhead: float = OVERHEAD_GB
    reward: float = 0.0  # GRPO: the haha_reward model beside the policy, and the cache of its generations

    @property
    def total(self) -> float:
        return self.weights + self.adapter + self.activations + self.overhead + self.reward


@dataclass(frozen=True)
class Estimate:
    model: str
    shape: Shape
    load: LoadIn
    sequence_len: int
    micro_batch_size: int
    train: Memory
    eval_load: LoadIn  # how the eval loads the base: bf16 when it fits one GPU of the class, else as training did
    eval_gb: float
    gpu_hours: float | None  # None when there is no token count at all
    hours_bound: bool = False  # the tokens are rows x sequence_len (the rows were not tokenized): at most this

    def describe(self) -> str:
        """`Llama-2-70B in 4-bit: ~41 GB weights + ~6 GB activations at sequence_len 2048, micro_batch_size 1`."""
        load = {"4bit": "4-bit", "8bit": "8-bit", "16bit": "16-bit"}[self.load]
        name = self.model.rsplit("/", 1)[-1]
        parts = f"~{self.train.weights:.0f} GB weights"
        if self.train.adapter >= 0.5:
            parts += f" + ~{self.train.adapter:.0f} GB adapter and optimizer"
        parts += f" + ~{self.train.activations:.0f} GB activations"
        if self.train.reward >= 0.5:
            parts += f" + ~{self.train.reward:.0f} GB reward model and generation cache"
        return (f"{name} in {load}: {parts} at sequence_len {self.sequence_len}, micro_batch_size "
                f"{self.micro_batch_size} (~{self.train.total:.0f} GB peak; {self.shape.params_b:.1f}B parameters "
                f"from {self.shape.source})")

    def summary(self, runner_name: str, runner: RunnerClass) -> str:
        if self.gpu_hours is None:
            hours = ""
        else:
            amount = (f"{self.gpu_hours:.2g} GPU-hours" if self.gpu_hours >= 0.1
                      else f"{self.gpu_hours * 60:.2g} GPU-minutes")
            hours = f", at most {amount} (rows x sequence_len)" if self.hours_bound else f", ~{amount}"
        return (f"estimate: ~{self.train.total:.0f} GB peak training, ~{self.eval_gb:.0f} GB eval "
                f"({'bf16' if self.eval_load == '16bit' else self.eval_load}) on class {runner_name} "
                f"({runner.gpu_memory_gb:g} GB a GPU){hours}")

    def fits(self, runner: RunnerClass) -> bool:
        limit = runner.gpu_memory_gb * FIT_SHARE
        return self.train.total <= limit and self.eval_gb <= limit


def activations_gb(config: Mapping[str, Any], shape: Shape, sequence_len: int, micro_batch: int) -> float:
    hidden, layers, vocab = shape.hidden or 4096, shape.layers or 32, shape.vocab or 32000
    tokens = sequence_len * micro_batch
    if config.get("gradient_checkpointing"):
        kept = tokens * hidden * layers * CHECKPOINTED_BYTES
        working = tokens * hidden * 16 * 2  # one layer recomputed at a time, bf16
    else:
        kept = tokens * hidden * layers * UNCHECKPOINTED_FACTOR
        working = 0
    logits = tokens * vocab * 4  # fp32 logits for the loss
    return (kept + working + logits) / GB


def grpo_gb(config: Mapping[str, Any], shape: Shape, sequence_len: int, micro_batch: int) -> float:
    """What GRPO holds besides the policy: the haha_reward model, a classifier on a base taken to be the policy's
    size, in 16-bit as TRL loads it, and the key/value cache of the micro-batch's generations (prompt and
    `trl.max_completion_length`)."""
    if str(config.get("rl") or "") != "grpo":
        return 0.0
    trl = config.get("trl") if isinstance(config.get("trl"), Mapping) else {}
    completion = int(trl.get("max_completion_length") or 256)
    kv_cache = micro_batch * (sequence_len + completion) * (shape.layers or 32) * 2 * (shape.kv_dim or 1024) * 2
    return (shape.params * BYTES_PER_PARAM["16bit"] + kv_cache) / GB


def eval_plan(shape: Shape, trained_as: LoadIn, gpu_memory_gb: float) -> tuple[LoadIn, float]:
    """How the eval loads the base and its peak GB: bf16 when it fits one GPU, else as training loaded it.

    Pure, so the loading decision is tested without a GPU (evaluate/model.py follows it on CUDA).
    """
    kv_cache = EVAL_BATCH * EVAL_TOKENS * (shape.layers or 32) * 2 * (shape.kv_dim or 1024) * 2 / GB
    for load in ("16bit", trained_as):
        needed = shape.params * BYTES_PER_PARAM[load] / GB + kv_cache + OVERHEAD_GB
        if needed <= gpu_memory_gb * FIT_SHARE or load == trained_as:
            return load, needed
    raise AssertionError("unreachable: the loop ends on trained_as")


def estimate(config: Mapping[str, Any], model: str, shape: Shape, load: LoadIn, runner: RunnerClass,
             zero_stage: int | None, tokens: int | None, tokens_bound: bool = False) -> Estimate:
    """The config's peak memory on one GPU of `runner`, its eval's, and its GPU-hours when `tokens` is known."""
    sequence_len = int(config.get("sequence_len") or 2048)
    micro_batch = int(config.get("micro_batch_size") or 1)
    shards = sharded_over(config, runner.gpus, zero_stage)
    adapter_shards = runner.gpus if zero_stage in (1, 2, 3) else 1
    memory = Memory(weights=shape.params * BYTES_PER_PARAM[load] / GB / shards,
                    adapter=lora_params(config, shape) * ADAPTER_BYTES / GB / adapter_shards,
                    activations=activations_gb(config, shape, sequence_len, micro_batch),
                    reward=grpo_gb(config, shape, sequence_len, micro_batch))
    eval_load, eval_gb = eval_plan(shape, load, runner.gpu_memory_gb)
    hours = None
    if tokens is not None:
        epochs = float(config.get("num_epochs") or 1)
        flops = tokens * epochs * 6 * shape.params
        hours = flops / (runner.tflops * 1e12 * runner.gpus) / 3600
    return Estimate(model, shape, load, sequence_len, micro_batch, memory, eval_load, eval_gb, hours, tokens_bound)
