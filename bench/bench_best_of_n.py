"""Best-of-N throughput: candidates/s batched vs one `generate` per candidate, and reward scoring batched vs
one forward pass per candidate, side by side in one process.

The policy is the base model with a random non-zero LoRA; the reward model is the same base as a one-logit
sequence classifier with a random LoRA (or --reward-adapter, e.g. the one `make demo` publishes), both loaded
by the eval's own `load_model`. The spec is train/eval/best-of-4.json (its first --prompts, --n candidates).
The batched side is what the `best_of_n` task runs: every candidate is a row with its own seed
(`candidate_seed`), batched by the sweep's planner; the naive side calls `model.generate` per candidate
after `torch.manual_seed(candidate_seed)`. Scoring: `score_batched` at --batch-size vs batches of one.

    .venv/bin/python bench/bench_best_of_n.py [--model embedded|tiny] [--prompts N] [--n N] [--reward-adapter DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from bench_eval import CONFIG, ROOT, build, device_and_dtype

SPEC = ROOT / "train" / "eval" / "best-of-4.json"


def reward_adapter(base: Path, folder: Path) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    lora = LoraConfig(r=8, target_modules=["q_proj", "v_proj"], task_type="SEQ_CLS", init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("embedded", "tiny"), default="embedded")
    parser.add_argument("--model-dir", type=Path, default=None, help="A local base model folder instead of --model.")
    parser.add_argument("--prompts", type=int, default=0, help="Only the first N prompts (default: all).")
    parser.add_argument("--n", type=int, default=0, help="Candidates per cell (default: the spec's).")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--reward-adapter", type=Path, default=None)
    args = parser.parse_args()

    from pipeline.config.loading import load_config
    from pipeline.core.quiet import import_training_stack
    from pipeline.evaluate.best_of_n import BestOfNSpec, candidate_request, candidate_seed, candidates_of, score_batched
    from pipeline.evaluate.model import load_model
    from pipeline.evaluate.prompting import encode_prompts, prompt_text
    from pipeline.evaluate.spec import sweep_cells
    from pipeline.evaluate.sweep import generate_cells, plan_batches

    import_training_stack()
    spec = BestOfNSpec.model_validate(json.loads(SPEC.read_text()))
    spec = spec.model_copy(update={"prompts": spec.prompts[: args.prompts or None], "n": args.n or spec.n})
    config = load_config(CONFIG).data
    with tempfile.TemporaryDirectory() as tmp:
        base, adapter = build(Path(tmp), args.model, args.model_dir)
        scorer_adapter = args.reward_adapter or reward_adapter(base, Path(tmp) / "reward")
        policy = load_model(str(base), adapter)
        candidates = candidates_of(spec, sweep_cells(spec))
        prompt_ids = encode_prompts(config, spec.prompts, policy.tokenizer)
        requests = {c: candidate_request(c, spec, prompt_ids, None) for c in candidates}

        if policy.model.device.type == "cuda":  # CUDA's one-time start-up goes in an untimed pass, not a side
            warm = candidates[:4]
            list(generate_cells(policy, plan_batches(warm, requests, args.batch_size), requests))
        started = time.perf_counter()
        texts = {}
        for finished in generate_cells(policy, plan_batches(candidates, requests, args.batch_size), requests):
            texts.update({c: done.text for c, done in finished.items()})
        batched_gen = time.perf_counter() - started

        started = time.perf_counter()
        for candidate in candidates:
            setting = spec.settings[candidate.cell.setting]
            inputs = policy.tokenizer(prompt_text(config, spec.prompts[candidate.cell.prompt], policy.tokenizer),
                                      return_tensors="pt").to(policy.model.device)
            torch.manual_seed(candidate_seed(candidate.cell.seed, candidate.index))
            policy.model.generate(**inputs, do_sample=True, temperature=setting.temperature, top_p=setting.top_p,
                                  max_new_tokens=requests[candidate].max_new_tokens,
                                  pad_token_id=policy.pad_id)
        naive_gen = time.perf_counter() - started

        scorer = load_model(str(base), scorer_adapter, scorer=True)
        prompts = [spec.prompts[c.cell.prompt] for c in candidates]
        answers = [texts[c] for c in candidates]
        if scorer.model.device.type == "cuda":
            score_batched(scorer, prompts[:4], answers[:4], args.batch_size)
        started = time.perf_counter()
        batched_scores = score_batched(scorer, prompts, answers, args.batch_size)
        batched_score = time.perf_counter() - started
        started = time.perf_counter()
        single_scores = score_batched(scorer, prompts, answers, 1)
        single_score = time.perf_counter() - started
    drift = max(abs(a - b) for a, b in zip(batched_scores, single_scores, strict=True))
    device, dtype = device_and_dtype()
    count = len(candidates)
    print(f"device: {device} ({torch.cuda.get_device_name() if device == 'cuda' else 'CPU'}), {dtype}")
    print(f"model: {args.model_dir or args.model}; {len(spec.prompts)} prompts x {len(spec.settings)} settings x "
          f"{len(spec.seeds)} seeds x n={spec.n} = {count} candidates, up to "
          f"{max(r.max_new_tokens for r in requests.values())} new tokens")
    print(f"generate  batched {batched_gen:7.2f} s = {count / batched_gen:7.2f} candidates/s | one generate per "
          f"candidate {naive_gen:7.2f} s = {count / naive_gen:7.2f}/s | ratio {naive_gen / batched_gen:.1f}x")
    print(f"score     batched {batched_score:7.2f} s = {count / batched_score:7.2f} candidates/s | one forward per "
          f"candidate {single_score:7.2f} s = {count / single_score:7.2f}/s | ratio {single_score / batched_score:.1f}x"
          f" (largest reward difference {drift:.2e})")


if __name__ == "__main__":
    main()
