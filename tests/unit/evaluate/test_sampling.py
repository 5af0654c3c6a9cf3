"""The batched sampler: transformers' sampling semantics, one random stream per row, rows independent of batch."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from pipeline.evaluate.sampling import (
    RowParams,
    decode,
    generate,
    left_pad,
    penalize,
    pick,
    stop_token_ids,
    top_k_filter,
    top_p_filter,
    uniforms,
)
from pipeline.formats.sampling import Request, SamplingParams

VOCAB = 50


def params(rows: list[dict[str, Any]], steps: int = 4) -> RowParams:
    return RowParams.of([Request((1,), index + 1, SamplingParams(**row), steps) for index, row in enumerate(rows)],
                        torch.device("cpu"))


def test_logit_shaping_matches_transformers_processors() -> None:
    from transformers.generation.logits_process import (
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    rows = [{"temperature": 0.7, "top_k": 5, "top_p": 0.8, "repetition_penalty": 1.3},
            {"temperature": 1.0, "top_p": 0.5}, {"temperature": 0.3, "top_k": 12}, {"temperature": 1.5}]
    logits = torch.randn(len(rows), VOCAB, generator=torch.Generator().manual_seed(0)) * 3
    history = torch.tensor([[3, 7, 7, 11]] * len(rows))
    seen = torch.zeros(len(rows), VOCAB, dtype=torch.bool).scatter(1, history, True)
    batch = params(rows)
    ours = top_p_filter(top_k_filter(penalize(logits, seen, batch.penalty) / batch.temperature[:, None], batch.top_k),
                        batch.top_p)
    for row, setting in enumerate(rows):
        scores = logits[row: row + 1].clone()
        ids = history[row: row + 1]
        scores = RepetitionPenaltyLogitsProcessor(setting.get("repetition_penalty", 1.0))(ids, scores)
        scores = TemperatureLogitsWarper(setting["temperature"])(ids, scores)
        if "top_k" in setting:
            scores = TopKLogitsWarper(setting["top_k"])(ids, scores)
        if "top_p" in setting:
            scores = TopPLogitsWarper(setting["top_p"])(ids, scores)
        torch.testing.assert_close(ours[row: row + 1], scores)


def test_inverse_cdf_draws_follow_the_softmax() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, float("-inf")]])
    draws = 4000
    batch = RowParams(torch.ones(draws), torch.ones(draws), torch.zeros(draws, dtype=torch.long), torch.ones(draws),
                      torch.linspace(0, 1, draws + 2, dtype=torch.float64)[1:-1, None])
    tokens = pick(logits.expand(draws, -1), torch.zeros(draws, 5, dtype=torch.bool), batch, 0)
    frequencies = torch.bincount(tokens, minlength=5).float() / draws
    torch.testing.assert_close(frequencies, logits.softmax(-1)[0], atol=1e-3, rtol=0)


def test_temperature_zero_is_greedy_whatever_the_draw() -> None:
    logits = torch.tensor([[0.0, 3.0, 1.0], [0.0, 3.0, 1.0]])
    batch = RowParams(torch.zeros(2), torch.ones(2), torch.zeros(2, dtype=torch.long), torch.ones(2),
                      torch.tensor([[0.01], [0.99]], dtype=torch.float64))
    assert pick(logits, torch.zeros(2, 3, dtype=torch.bool), batch, 0).tolist() == [1, 1]


def test_uniforms_depend_on_the_seed_alone() -> None:
    assert torch.equal(uniforms(3, 8), uniforms(3, 8))
    assert not torch.equal(uniforms(3, 8), uniforms(4, 8))


def test_left_pad_puts_every_prompt_end_at_the_last_column() -> None:
    ids, mask = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


class CountingCache:
    """Per-row step counters that follow the sampler's row drops, as a real KV cache must."""

    def __init__(self, targets: torch.Tensor) -> None:
        self.targets = targets
        self.steps = torch.zeros_like(targets)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.targets, self.steps = self.targets[indices], self.steps[indices]


class ScriptedModel:
    """Row with first prompt token n emits 100, 101, ... then STOP after n tokens (greedy)."""

    STOP = 9
    device = torch.device("cpu")
    generation_config = None

    def __call__(self, input_ids: torch.Tensor, past_key_values: CountingCache | None = None,
                 **_: Any) -> SimpleNamespace:
        cache = past_key_values or CountingCache(input_ids[:, -1].clone())
        tokens = torch.where(cache.steps >= cache.targets, self.STOP, 100 + cache.steps)
        cache.steps = cache.steps + 1
        logits = torch.nn.functional.one_hot(tokens, 200).float()[:, None, :] * 10
        return SimpleNamespace(logits=logits, past_key_values=cache)


def test_rows_stop_at_their_own_stop_token_or_limit() -> None:
    requests = [Request((0, n), 1, SamplingParams(temperature=0), limit) for n, limit in
                [(2, 10), (5, 10), (0, 10), (7, 4), (3, 10)]]
    out = generate(ScriptedModel(), requests, stop_ids={ScriptedModel.STOP}, pad_id=0)  # type: ignore[arg-type]
    assert out == [[100, 101], [100, 101, 102, 103, 104], [], [100, 101, 102, 103], [100, 101, 102]]


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_model_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval(), AutoTokenizer.from_pretrained(tiny_model_dir)


def mixed_requests(tokenizer: Any) -> list[Request]:
    prompts = [tuple(tokenizer(text)["input_ids"]) for text in
               ["<|im_start|>user\nIt was 100 degrees today.<|im_end|>\n<|im_start|>assistant\n", "Hi", "A goldfish"]]
    settings = [{"temperature": 0}, {"temperature": 0.9, "top_p": 0.9}, {"temperature": 1.2, "top_k": 40,
                                                                         "repetition_penalty": 1.2}]
    return [Request(prompt, seed, SamplingParams(**setting), 6 + seed) for prompt in prompts for setting in settings
            for seed in (1, 2)]


def test_each_row_is_the_same_alone_as_in_a_batch(model_and_tokenizer: tuple[Any, Any]) -> None:
    model, tokenizer = model_and_tokenizer
    requests = mixed_requests(tokenizer)
    stops = stop_token_ids(tokenizer, model)
    batched = generate(model, requests, stop_ids=stops, pad_id=tokenizer.pad_token_id)
    alone = [generate(model, [r], stop_ids=stops, pad_id=tokenizer.pad_token_id)[0] for r in requests]
    assert batched == alone
    assert [len(ids) for ids in batched] == [r.max_new_tokens for r in requests]  # random weights: no stop token
    assert batched[2] != batched[3], "seeds 1 and 2 of a sampled setting should differ"


def test_greedy_rows_match_transformers_generate(model_and_tokenizer: tuple[Any, Any]) -> None:
    model, tokenizer = model_and_tokenizer
    requests = [r for r in mixed_requests(tokenizer) if r.params.temperature == 0]
    ours = generate(model, requests, stop_ids=stop_token_ids(tokenizer, model), pad_id=tokenizer.pad_token_id)
    for request, ids in zip(requests, ours, strict=True):
        reference = model.generate(torch.tensor([request.prompt_ids]), do_sample=False,
                                   max_new_tokens=request.max_new_tokens, pad_token_id=tokenizer.pad_token_id)
        assert ids == reference[0, len(request.prompt_ids):].tolist()


def test_stop_tokens_include_eos_and_chatml_end(model_and_tokenizer: tuple[Any, Any]) -> None:
    model, tokenizer = model_and_tokenizer
    stops = stop_token_ids(tokenizer, model)
    assert {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")} <= stops
    assert decode(tokenizer, [*tokenizer(" Hello")["input_ids"], tokenizer.eos_token_id]) == "Hello"
