"""Eval sweep throughput: the batched, seeded sweep vs the naive loop a simple script would write.

Both sides evaluate a base model with a random (non-zero) LoRA adapter on the same sweep
(train/eval/eval.json: 11 prompts x 5 temperatures x 3 seeds, or its first --prompts), in one
process, back to back, each timed from model load to results on disk. The base model is the
embedded SmolLM2-135M-Instruct (a real model: completions stop when it ends its turn) or, with
--model tiny, the random tiny Llama. The naive side loads the PeftModel and calls
`model.generate` once per completion after `torch.manual_seed(seed)`, with `do_sample` at
that temperature. Target ratio: >= 8x.

    .venv/bin/python bench/bench_eval.py [--model embedded|tiny] [--model-dir DIR] [--adapter DIR] [--prompts N]

On a GPU both sides run on CUDA in the dtype the eval picks (bfloat16 where supported), and an
untimed batched pass on two prompts goes first: CUDA's one-time start-up (about 12 s on an H100)
would otherwise land in whichever side runs first. --model-dir takes any local base model folder
(bench/gpu_model.py builds the random ~1B Llama the GPU figures use).

--adapter takes a trained adapter instead of the random one (for the embedded model, e.g. the one
`make demo` leaves in scratch/runs/haha-llama-3-8b-lora-001/adapter): a fine-tune ends its turn after
a punchline, a random adapter rambles to max_new_tokens, and the two sides gain differently from that.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from pipeline.evaluate.prompting import prompt_text
from pipeline.evaluate.spec import EvalSpec, load_eval

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "train" / "config" / "haha-llama-3-8b-lora-001.yml"


def device_and_dtype() -> tuple[str, torch.dtype]:
    """What the eval's own load_model picks, so the naive side runs on the same hardware in the same precision."""
    if torch.cuda.is_available():
        return "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return "cpu", torch.float32


def build(scratch: Path, model: str, model_dir: Path | None) -> tuple[Path, Path]:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from pipeline.models.embedded import prepare_base_model
    from pipeline.models.tiny import build_tiny_model

    if model_dir is not None:
        base = model_dir
    elif model == "embedded":
        base = prepare_base_model()
    else:
        base = build_tiny_model(scratch / "tiny-model", ROOT / "train" / "data")
    torch.manual_seed(0)
    lora = LoraConfig(r=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], init_lora_weights=False)
    get_peft_model(AutoModelForCausalLM.from_pretrained(base), lora).save_pretrained(scratch / "adapter")
    return base, scratch / "adapter"


def batched(base: Path, adapter: Path, spec: EvalSpec, out: Path, max_new_tokens: int, batch_size: int) -> float:
    from pipeline.config.loading import load_config
    from pipeline.evaluate.run import evaluate
    from pipeline.evaluate.tasks import EvalJob, TaskFile

    spec_file = out.with_name("eval.json")
    spec_file.write_text(spec.model_dump_json(exclude_none=True))
    job = EvalJob(load_config(CONFIG), CONFIG.stem, str(base), adapter, out, batch_size, max_new_tokens)
    started = time.perf_counter()
    evaluate(job, [TaskFile("eval", spec_file, "sweep")])
    return time.perf_counter() - started


def naive(base: Path, adapter: Path, spec: EvalSpec, out: Path, max_new_tokens: int) -> float:
    """What a straightforward script does: one `generate` per completion, global seed set before each."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pipeline.config.loading import load_config

    device, dtype = device_and_dtype()
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=dtype), adapter)
    model = model.to(device).eval()
    config = load_config(CONFIG).data
    results = []
    for prompt in spec.prompts:
        inputs = tokenizer(prompt_text(config, prompt, tokenizer), return_tensors="pt").to(device)
        settings_results = []
        for setting in spec.settings:
            completions = []
            for seed in spec.seeds:
                torch.manual_seed(seed)
                output = model.generate(**inputs, do_sample=True, temperature=setting.temperature,
                                        max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
                new = output[0, inputs["input_ids"].shape[1]:]
                completions.append(tokenizer.decode(new, skip_special_tokens=True).strip())
            settings_results.append({**setting.as_dict(), "completions": completions})
        results.append({"prompt": prompt, "settingsResults": settings_results})
    out.write_text(json.dumps({"results": results}, indent=2))
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", choices=("embedded", "tiny"), default="embedded")
    parser.add_argument("--prompts", type=int, default=0, help="Only the first N prompts (default: all).")
    parser.add_argument("--model-dir", type=Path, default=None, help="A local base model folder instead of --model.")
    parser.add_argument("--adapter", type=Path, default=None, help="A trained adapter of --model's base model.")
    args = parser.parse_args()
    from pipeline.core.quiet import import_training_stack

    import_training_stack()
    spec = load_eval(ROOT / "train" / "eval" / "eval.json")
    if args.prompts:
        spec = spec.model_copy(update={"prompts": spec.prompts[: args.prompts]})
    cells = len(spec.prompts) * len(spec.settings) * len(spec.seeds)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        base, adapter = build(scratch, args.model, args.model_dir)
        adapter = args.adapter or adapter
        if torch.cuda.is_available():
            warm = spec.model_copy(update={"prompts": spec.prompts[:2]})
            batched(base, adapter, warm, scratch / "warm-up.json", args.max_new_tokens, args.batch_size)
        batched_s = batched(base, adapter, spec, scratch / "batched.json", args.max_new_tokens, args.batch_size)
        naive_s = naive(base, adapter, spec, scratch / "naive.json", args.max_new_tokens)
    which = f"adapter {args.adapter}" if args.adapter else "a random LoRA"
    device, dtype = device_and_dtype()
    print(f"device: {device} ({torch.cuda.get_device_name() if device == 'cuda' else 'CPU'}), {dtype}")
    print(f"model: {args.model_dir or args.model} with {which}; sweep: {len(spec.prompts)} prompts x "
          f"{len(spec.settings)} settings x {len(spec.seeds)} seeds = {cells} completions, max_new_tokens "
          f"{args.max_new_tokens}, torch threads {torch.get_num_threads()}")
    print(f"{'side':<10}{'seconds':>10}{'completions/s':>16}")
    for name, seconds in (("batched", batched_s), ("naive", naive_s)):
        print(f"{name:<10}{seconds:>10.1f}{cells / seconds:>16.1f}")
    print(f"ratio batched/naive: {naive_s / batched_s:.1f}x (target >= 8x)")


if __name__ == "__main__":
    main()
