"""A randomly initialised ~1B Llama (or Mistral) with the embedded SmolLM2's tokenizer, saved as a local model folder.

The GPU figures in RESULTS.md use it: big enough that a GPU is busy, built on the machine (no
download), and ChatML-aware through SmolLM2's tokenizer. Weights are drawn with seed 0 (on the GPU
when there is one) and saved in bfloat16.

    .venv/bin/python bench/gpu_model.py OUT_DIR [--arch llama|mistral] [--tokenizer DIR] [--hidden 2048 ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def build(out: Path, tokenizer_dir: Path, hidden: int, layers: int, heads: int, intermediate: int,
          arch: str = "llama") -> dict[str, object]:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config_class, model_class = (MistralConfig, MistralForCausalLM) if arch == "mistral" else (LlamaConfig,
                                                                                              LlamaForCausalLM)
    config = config_class(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = model_class(config)
    model = model.to(torch.bfloat16)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    info = {"parameters": model.num_parameters(), "hidden": hidden, "layers": layers, "heads": heads,
            "intermediate": intermediate, "vocab": len(tokenizer), "built_on": device,
            "seconds": round(time.perf_counter() - started, 1)}
    (out / "bench-model.json").write_text(json.dumps(info))
    return info


def main() -> None:
    from pipeline.models.embedded import default_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tokenizer", type=Path, default=None, help="default: the embedded SmolLM2 (haha base-model)")
    parser.add_argument("--arch", choices=("llama", "mistral"), default="llama")
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--intermediate", type=int, default=5632)
    args = parser.parse_args()
    info = build(args.out, args.tokenizer or default_dir(), args.hidden, args.layers, args.heads, args.intermediate,
                 args.arch)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
