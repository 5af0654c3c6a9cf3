"""Batched, seeded sampling: many (prompt, settings, seed) rows share each forward pass.

`model.generate` has one random stream per call and one set of generation parameters per
call, so a completion would depend on which other rows happened to share its batch. Here
every row carries its own temperature / top_p / top_k / repetition_penalty and its own
random numbers, drawn up front from a `torch.Generator` seeded with the row's seed alone:
on CPU in float32 a cell's completion is the same whether it runs alone, in a full sweep, or
after a resume. On a GPU in bfloat16 the batch's shape still changes the rounding of the matrix
products, so a near-tie can flip: measured on an H100, 1 of 165 cells of a random 1B model
matched alone and batched (90 % in float32; bench/RESULTS.md), while a fixed batch layout
repeats exactly.

Each step turns the row's logits into probabilities the way transformers' logits
processors do (repetition penalty, temperature, top-k, top-p) and picks the token whose
cumulative-probability interval holds the row's uniform draw for that step (inverse-CDF
sampling). Temperature 0 means greedy. Rows that emit a stop token or reach their own
`max_new_tokens` leave the batch (their KV cache rows are dropped) and the rest go on.

A prompt with a picture carries the processor's other inputs (`ImageInputs`: Qwen2-VL's `pixel_values` and
`image_grid_thw` per picture, `mm_token_type_ids` per token). They go into the first forward pass only, batched
like the ids; the KV cache holds the picture after that. Models that place image tokens in 3-D (Qwen2-VL's
M-RoPE) compute the prompt's positions themselves and say by how much a row's next position is ahead of its
length (`rope_deltas`); the decoding steps pass that position, the same in a batch as alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from pipeline.formats.sampling import Request

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# Part of the resume key: bump it when a change here would change completions, so
# progress saved by an older sampler is discarded instead of mixed in.
SAMPLER_VERSION = 1
CHATML_END = "<|im_end|>"


@dataclass(frozen=True)
class RowParams:
    """The batch's per-row parameters as tensors (off = top_p 1, top_k 0, penalty 1)."""

    temperature: torch.Tensor
    top_p: torch.Tensor
    top_k: torch.Tensor
    penalty: torch.Tensor
    draws: torch.Tensor  # [rows, steps] uniforms in [0, 1)

    @classmethod
    def of(cls, requests: Sequence[Request], device: torch.device) -> RowParams:
        steps = max(r.max_new_tokens for r in requests)
        draws = torch.zeros(len(requests), steps, dtype=torch.float64)
        for row, request in enumerate(requests):
            draws[row, : request.max_new_tokens] = uniforms(request.seed, request.max_new_tokens)
        return cls(
            temperature=torch.tensor([r.params.temperature for r in requests], dtype=torch.float32, device=device),
            top_p=torch.tensor([r.params.top_p or 1.0 for r in requests], dtype=torch.float32, device=device),
            top_k=torch.tensor([r.params.top_k or 0 for r in requests], dtype=torch.long, device=device),
            penalty=torch.tensor([r.params.repetition_penalty or 1.0 for r in requests], dtype=torch.float32,
                                 device=device),
            draws=draws.to(device),
        )

    def select(self, keep: torch.Tensor) -> RowParams:
        return RowParams(self.temperature[keep], self.top_p[keep], self.top_k[keep], self.penalty[keep],
                         self.draws[keep])


@dataclass(frozen=True)
class ImageInputs:
    """What a processor adds to one prompt's token ids for its picture, in the model's forward's names."""

    per_image: Mapping[str, torch.Tensor] = field(default_factory=dict)  # stacked along dim 0 across rows
    per_token: Mapping[str, torch.Tensor] = field(default_factory=dict)  # 1-D, one value per prompt id

    @classmethod
    def of(cls, processed: Mapping[str, torch.Tensor]) -> ImageInputs:
        """Split one prompt's processor output (batch of 1): tensors shaped like its ids are per token."""
        ids = processed["input_ids"]
        rest = {key: value for key, value in processed.items() if key not in ("input_ids", "attention_mask")}
        return cls({key: value for key, value in rest.items() if value.shape[:2] != ids.shape},
                   {key: value[0] for key, value in rest.items() if value.shape[:2] == ids.shape})


def batch_inputs(extras: Sequence[ImageInputs], width: int, device: torch.device) -> dict[str, torch.Tensor]:
    """The rows' picture inputs as one batch: per-picture tensors stacked in row order, per-token ones left-padded
    with 0 to the ids' width."""
    found: dict[str, torch.Tensor] = {}
    for key in dict.fromkeys(k for extra in extras for k in extra.per_image):
        found[key] = torch.cat([extra.per_image[key] for extra in extras if key in extra.per_image]).to(device)
    for key in dict.fromkeys(k for extra in extras for k in extra.per_token):
        rows = [extra.per_token.get(key) for extra in extras]
        sample = next(row for row in rows if row is not None)
        padded = torch.zeros((len(rows), width), dtype=sample.dtype)
        for index, row in enumerate(rows):
            if row is not None:
                padded[index, width - len(row):] = row
        found[key] = padded.to(device)
    return found


def places_itself(model: PreTrainedModel) -> bool:
    """The model computes its prompt positions from the picture's grid (M-RoPE): it must be given none."""
    return any(hasattr(part, "get_rope_index") for part in (model, getattr(model, "model", None)))


def uniforms(seed: int, count: int) -> torch.Tensor:
    """The row's random numbers: a function of its seed alone, on CPU so every device draws the same."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return torch.rand(count, generator=generator, dtype=torch.float64)


def left_pad(prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Input ids and attention mask, padded on the left so every row's next token is at the end."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt):] = 1
    return ids, mask


def penalize(logits: torch.Tensor, seen: torch.Tensor, penalty: torch.Tensor) -> torch.Tensor:
    """transformers' RepetitionPenaltyLogitsProcessor: tokens already in the row are made less likely."""
    p = penalty[:, None]
    return torch.where(seen, torch.where(logits < 0, logits * p, logits / p), logits)


def top_k_filter(logits: torch.Tensor, top_k: torch.Tensor) -> torch.Tensor:
    """Keep each row's k best logits (rows with k = 0 untouched), as TopKLogitsWarper does."""
    if not bool((top_k > 0).any()):
        return logits  # no row filters: skip sorting the whole vocabulary (the result is the same)
    k = top_k.clamp(min=1, max=logits.shape[-1])
    kth = logits.sort(dim=-1, descending=True).values.gather(1, (k - 1)[:, None])
    return logits.masked_fill((logits < kth) & (top_k > 0)[:, None], float("-inf"))


def top_p_filter(logits: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Keep each row's smallest set of tokens with probability mass >= top_p, as TopPLogitsWarper does."""
    if not bool((top_p < 1).any()):
        return logits  # no row filters: skip sorting the whole vocabulary (the result is the same)
    ascending, order = logits.sort(dim=-1)
    cumulative = ascending.softmax(dim=-1).cumsum(dim=-1)
    drop = (cumulative <= (1 - top_p)[:, None]) & (top_p < 1)[:, None]
    drop[:, -1] = False
    return logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))


def pick(logits: torch.Tensor, seen: torch.Tensor, params: RowParams, step: int) -> torch.Tensor:
    """Each row's next token: greedy at temperature 0, else the token whose CDF interval holds its draw."""
    logits = penalize(logits.float(), seen, params.penalty)
    greedy = logits.argmax(dim=-1)
    scaled = logits / params.temperature.clamp(min=1e-6)[:, None]
    scaled = top_p_filter(top_k_filter(scaled, params.top_k), params.top_p)
    cdf = scaled.double().softmax(dim=-1).cumsum(dim=-1)
    target = (params.draws[:, step] * cdf[:, -1])[:, None]
    sampled = torch.searchsorted(cdf, target, right=True)[:, 0].clamp(max=logits.shape[-1] - 1)
    return torch.where(params.temperature == 0, greedy, sampled)


def stop_token_ids(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> frozenset[int]:
    """EOS of the tokenizer and of the model's generation config, plus ChatML's end-of-turn marker."""
    ids: set[int] = set()
    configured = model.generation_config.eos_token_id if model.generation_config else None
    for value in (tokenizer.eos_token_id, configured):
        ids.update(value if isinstance(value, list) else [] if value is None else [value])
    end = tokenizer.convert_tokens_to_ids(CHATML_END)
    if isinstance(end, int) and end != tokenizer.unk_token_id:
        ids.add(end)
    return frozenset(ids)


@torch.inference_mode()
def generate(model: PreTrainedModel, requests: Sequence[Request], *, stop_ids: Iterable[int],
             pad_id: int, images: Sequence[ImageInputs] | None = None) -> list[list[int]]:
    """New token ids per request (stop token excluded), all requests decoded together with a KV cache.

    `images`, one per request when given, are the processor's picture inputs for the first forward pass.
    """
    device = model.device
    stops = frozenset(stop_ids)
    ids, mask = left_pad([r.prompt_ids for r in requests], pad_id)
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)
    pictures = batch_inputs(images, ids.shape[1], device) if images else {}
    if pictures and places_itself(model):
        out = model(input_ids=ids, attention_mask=mask, use_cache=True, logits_to_keep=1, **pictures)
        positions = positions + out.rope_deltas.to(device)  # where each row's text goes on (its last position)
    else:
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1,
                    **pictures)
    cache = out.past_key_values
    seen = torch.zeros(len(requests), out.logits.shape[-1], dtype=torch.long, device=device)
    seen = seen.scatter_add(1, ids, mask).gt(0)
    params = RowParams.of(requests, device)
    rows = list(range(len(requests)))
    last = positions[:, -1]
    generated: list[list[int]] = [[] for _ in requests]
    for step in range(params.draws.shape[1]):
        tokens = pick(out.logits[:, -1, :], seen, params, step)
        keep = [slot for slot, (row, token) in enumerate(zip(rows, tokens.tolist(), strict=True))
                if _extend(generated[row], token, stops, requests[row].max_new_tokens)]
        if not keep:
            break
        if len(keep) < len(rows):
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            rows = [rows[slot] for slot in keep]
            tokens, mask, seen, last = tokens[index], mask[index], seen[index], last[index]
            params = params.select(index)
        seen[torch.arange(len(rows), device=device), tokens] = True
        mask = torch.cat([mask, mask.new_ones(len(rows), 1)], dim=-1)
        last = last + 1
        out = model(input_ids=tokens[:, None], attention_mask=mask, position_ids=last[:, None], past_key_values=cache,
                    use_cache=True)
    return generated


def _extend(completion: list[int], token: int, stops: frozenset[int], limit: int) -> bool:
    """Add the token to the row's completion; False once the row is finished."""
    if token in stops:
        return False
    completion.append(token)
    return len(completion) < limit


def decode(tokenizer: PreTrainedTokenizerBase, token_ids: Sequence[int]) -> str:
    return tokenizer.decode(list(token_ids), skip_special_tokens=True).strip()
