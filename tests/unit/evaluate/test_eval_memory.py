"""Evals that fit the GPU: the loading decision (pure) and the sweep's out-of-memory back-off, tested on CPU with
the failure injected into the real tiny model's forward pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.evaluate.model import EvalError, eval_load, load_model
from pipeline.evaluate.spec import Cell
from pipeline.evaluate.sweep import generate_cells
from pipeline.formats.sampling import Request, SamplingParams


@pytest.mark.parametrize(("config", "gpu_gb", "loads"), [
    ({"base_model": "meta-llama/Meta-Llama-3-8B", "load_in_8bit": True}, 80.0, "16bit"),
    ({"base_model": "meta-llama/Llama-2-70b-hf", "load_in_4bit": True}, 80.0, "4bit"),
    ({"base_model": "meta-llama/Llama-2-70b-hf", "load_in_4bit": True}, 141.0, "4bit"),  # 140 GB bf16 + cache
    ({"base_model": "meta-llama/Llama-2-70b-hf", "load_in_4bit": True}, None, "16bit"),  # no CUDA: fp32 on CPU
    ({"base_model": "haha-test/no-size-in-its-name"}, 24.0, "16bit"),
])
def test_the_eval_loads_the_base_the_way_that_fits(config: dict[str, object], gpu_gb: float | None,
                                                   loads: str) -> None:
    assert eval_load(config, gpu_gb) == loads


def cells_and_requests(model_dir: Path, count: int) -> tuple[list[Cell], dict[Cell, Request]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    cells = [Cell(0, 0, seed) for seed in range(1, count + 1)]
    prompt = tuple(tokenizer("My cat learned to type.")["input_ids"])
    params = SamplingParams(temperature=0.9)
    return cells, {cell: Request(prompt, cell.seed, params, 6) for cell in cells}


def test_an_out_of_memory_batch_is_retried_in_halves_with_the_same_completions(tiny_model_dir: Path) -> None:
    import torch

    cells, requests = cells_and_requests(tiny_model_dir, 8)
    plain = load_model(str(tiny_model_dir), None)
    expected = {cell: done.text for done_batch in generate_cells(plain, [cells], requests)
                for cell, done in done_batch.items()}

    squeezed = load_model(str(tiny_model_dir), None)

    def over_two(_module: object, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if isinstance(ids, torch.Tensor) and ids.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (injected: more than 2 rows)")

    squeezed.model.register_forward_pre_hook(over_two, with_kwargs=True)
    got = {cell: done.text for done_batch in generate_cells(squeezed, [cells], requests)
           for cell, done in done_batch.items()}
    assert got == expected  # every cell made once, each as it was in one batch of 8 (fp32 on CPU)
    assert squeezed.batch_limit == [4, 2]


def test_out_of_memory_on_one_prompt_alone_says_what_to_change(tiny_model_dir: Path) -> None:
    import torch

    cells, requests = cells_and_requests(tiny_model_dir, 2)
    model = load_model(str(tiny_model_dir), None)

    def always(_module: object, _args: tuple[object, ...], _kwargs: dict[str, object]) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    model.model.register_forward_pre_hook(always, with_kwargs=True)
    with pytest.raises(EvalError, match="out of GPU memory generating for one prompt alone: lower the settings' "
                                        "max_new_tokens"):
        list(generate_cells(model, [cells], requests))
