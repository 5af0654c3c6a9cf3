"""Multiple-choice scoring throughput: items/s batched vs one forward pass per choice, side by side in one process.

Both sides score the same items with `score_continuations` (evaluate/loglikelihood.py), the task's own
scorer: batched at --batch-size rows, and at one row per forward pass (what a simple loop over choices does).
On CUDA an untimed pass goes first, so neither side pays the one-time start-up. Items are generated
matching-task style: a setup and --choices candidate punchlines from train/data's sample rows. The model
is the embedded SmolLM2-135M-Instruct (or --model tiny, or --model-dir DIR).

    .venv/bin/python bench/bench_multiple_choice.py [--model embedded|tiny] [--items N] [--choices K]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from bench_eval import CONFIG, ROOT, device_and_dtype


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("embedded", "tiny"), default="embedded")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--choices", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    from pipeline.config.loading import load_config
    from pipeline.core.quiet import import_training_stack
    from pipeline.evaluate.loglikelihood import continuation_ids, score_continuations
    from pipeline.evaluate.model import load_model
    from pipeline.evaluate.prompting import encode_prompts
    from pipeline.models.embedded import prepare_base_model
    from pipeline.models.tiny import build_tiny_model

    import_training_stack()
    rows = [json.loads(line) for line in (ROOT / "train" / "data" / "haha-v1.jsonl").read_text().splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        if args.model_dir is not None:
            base = args.model_dir
        elif args.model == "embedded":
            base = prepare_base_model()
        else:
            base = build_tiny_model(Path(tmp) / "tiny", ROOT / "train" / "data")
        model = load_model(str(base), None)
        prompts = [rows[i % len(rows)]["instruction"] for i in range(args.items)]
        choices = [[rows[(i + k * 7) % len(rows)]["output"] for k in range(args.choices)] for i in range(args.items)]
        contexts = encode_prompts(load_config(CONFIG).data, prompts, model.tokenizer)
        flat_contexts = [contexts[i] for i in range(args.items) for _ in range(args.choices)]
        flat_choices = continuation_ids(model, [c for options in choices for c in options])
        if model.model.device.type == "cuda":  # CUDA's one-time start-up goes in an untimed pass, not a side
            score_continuations(model, flat_contexts[:8], flat_choices[:8], 8)
        timings = {}
        for label, size in (("batched", args.batch_size), ("one forward per choice", 1)):
            started = time.perf_counter()
            scores = score_continuations(model, flat_contexts, flat_choices, size)
            timings[label] = (time.perf_counter() - started, scores)
    batched_s, batched = timings["batched"]
    single_s, single = timings["one forward per choice"]
    drift = max(abs(a.loglikelihood - b.loglikelihood) for a, b in zip(batched, single, strict=True))
    device, dtype = device_and_dtype()
    print(f"device: {device} ({torch.cuda.get_device_name() if device == 'cuda' else 'CPU'}), {dtype}")
    print(f"model: {args.model_dir or args.model}; {args.items} items x {args.choices} choices")
    print(f"batched ({args.batch_size}) {batched_s:7.2f} s = {args.items / batched_s:7.2f} items/s | one forward per "
          f"choice {single_s:7.2f} s = {args.items / single_s:7.2f} items/s | ratio {single_s / batched_s:.1f}x "
          f"(largest log-likelihood difference {drift:.2e})")


if __name__ == "__main__":
    main()
