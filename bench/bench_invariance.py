"""Batch invariance: the share of sweep cells whose completion is the same generated alone as in the sweep's batches.

The sampler gives every cell its own random stream (evaluate/sampling.py), so on CPU in float32 a
cell is the same alone, in any batch, or after a resume. On a GPU the batch's shape and padding
change the rounding of bf16 (and, less, fp32) matrix products, and a near-tie between two tokens
can flip. This measures how often: the sweep's cells are generated with the eval's own planner
and sampler in its batches, then each cell alone, and the token ids are compared.

    .venv/bin/python bench/bench_invariance.py [--model embedded|tiny] [--model-dir DIR] [--dtype auto|float32]
                                               [--prompts N] [--max-new-tokens 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
from bench_eval import CONFIG, ROOT, build

from pipeline.config.loading import load_config
from pipeline.evaluate.model import load_model
from pipeline.evaluate.prompting import encode_prompts
from pipeline.evaluate.sampling import generate
from pipeline.evaluate.spec import load_eval, sweep_cells
from pipeline.evaluate.sweep import plan_batches, request_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("embedded", "tiny"), default="embedded")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--dtype", choices=("auto", "float32"), default="auto",
                        help="auto: what the eval picks (bfloat16 on a GPU that has it)")
    parser.add_argument("--prompts", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    from pipeline.core.quiet import import_training_stack

    import_training_stack()
    spec = load_eval(ROOT / "train" / "eval" / "eval.json")
    if args.prompts:
        spec = spec.model_copy(update={"prompts": spec.prompts[: args.prompts]})
    if args.dtype == "float32":  # the eval's load_model asks this to choose bfloat16
        torch.cuda.is_bf16_supported = lambda *_a, **_k: False
    with tempfile.TemporaryDirectory() as tmp:
        base, adapter = build(Path(tmp), args.model, args.model_dir)
        model = load_model(str(base), adapter)
    prompt_ids = encode_prompts(load_config(CONFIG).data, spec.prompts, model.tokenizer)
    cells = sweep_cells(spec)
    requests = {cell: request_for(cell, spec, prompt_ids, args.max_new_tokens) for cell in cells}

    def ids_of(batch: list) -> list[list[int]]:
        return generate(model.model, [requests[c] for c in batch], stop_ids=model.stop_ids, pad_id=model.pad_id)

    started = time.perf_counter()
    in_batch = {cell: ids for batch in plan_batches(cells, requests, args.batch_size)
                for cell, ids in zip(batch, ids_of(batch), strict=True)}
    batched_s = time.perf_counter() - started
    alone = {cell: ids_of([cell])[0] for cell in cells}
    same = {cell: alone[cell] == in_batch[cell] for cell in cells}
    by_temperature: Counter[tuple[float, bool]] = Counter(
        (spec.settings[cell.setting].temperature, same[cell]) for cell in cells)
    print(f"device: {model.describe()}; model {args.model_dir or args.model}; {len(cells)} cells, "
          f"max_new_tokens {args.max_new_tokens}, batch size {args.batch_size} (batched ids in {batched_s:.1f}s)")
    print(f"identical alone and in the batch: {sum(same.values())} of {len(cells)} "
          f"({sum(same.values()) / len(cells):.1%})")
    for temperature in sorted({t for t, _ in by_temperature}):
        print(f"  temperature {temperature}: {by_temperature[temperature, True]} of "
              f"{by_temperature[temperature, True] + by_temperature[temperature, False]}")


if __name__ == "__main__":
    main()
