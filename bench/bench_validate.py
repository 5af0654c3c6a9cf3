"""`haha validate` at scale: 1,000 configs in 5 families sharing 3 datasets, validated in one process.

The repo root is generated in a temp folder (pyproject with [tool.haha], train/config, train/data,
train/eval). Two families name a local model folder (config.json and tokenizer, no weights) as base
model, so Axolotl's load-time checks run and their rows are really tokenized with Axolotl's prompt
strategy; the others name a Hub model that is not on this machine (offline), the GPU-config case.
The tokenizer is built in a child process so that this process measures the cold import of the
pipeline and Axolotl on its own. Target: well under 15 s in all.

    .venv/bin/python bench/bench_validate.py [--configs 1000] [--rows 300]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

FAMILIES = ("haha-llama-3-8b-lora", "haha-mistral-7b-lora", "haha-tiny-lora", "haha-tiny-qlora", "haha-qwen-7b-lora")
LOCAL_TOKENIZER_FAMILIES = ("haha-tiny-lora", "haha-tiny-qlora")
DATASETS = ("jokes-a.jsonl", "jokes-b.jsonl", "jokes-c.jsonl")

BUILD_TOKENIZER = """
import sys
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast
special = ["<unk>", "<|im_start|>", "<|im_end|>", "<|end_of_text|>"]
tok = Tokenizer(models.BPE(unk_token="<unk>"))
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
lines = open(sys.argv[2], encoding="utf-8").read().splitlines()
tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=512, special_tokens=special,
                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<|end_of_text|>",
                        pad_token="<|end_of_text|>").save_pretrained(sys.argv[1])
# A model folder describes its architecture too: Axolotl's load-time checks read config.json, never weights.
from transformers import LlamaConfig
LlamaConfig(vocab_size=512, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
            num_key_value_heads=1).save_pretrained(sys.argv[1])
"""

CONFIG = """\
base_model: {base_model}
load_in_8bit: {eight_bit}
load_in_4bit: {four_bit}
chat_template: chatml
datasets:
  - path: /workspace/data/{dataset}
    ds_type: json
    type:
      system_prompt: "You are a comedian. Finish the joke with one short punchline."
      system_format: "<|im_start|>system\\n{{system}}<|im_end|>\\n"
      field_instruction: instruction
      field_input: input
      field_output: output
      format: "<|im_start|>user\\n{{instruction}}\\n{{input}}<|im_end|>\\n<|im_start|>assistant\\n"
      no_input_format: "<|im_start|>user\\n{{instruction}}<|im_end|>\\n<|im_start|>assistant\\n"
dataset_prepared_path: last_run_prepared
val_set_size: 0
output_dir: ./outputs/lora-out
sequence_len: {sequence_len}
sample_packing: false
adapter: {adapter}
lora_r: {lora_r}
lora_alpha: 16
lora_dropout: 0.05
lora_target_linear: true
wandb_project: haha
wandb_name:
gradient_accumulation_steps: 4
micro_batch_size: 2
num_epochs: {epochs}
optimizer: adamw_bnb_8bit
lr_scheduler: cosine
learning_rate: {learning_rate}
bf16: auto
attn_implementation: flash_attention_2
special_tokens:
  pad_token: "<|end_of_text|>"
"""


def write_repo(root: Path, configs: int, rows: int) -> None:
    """A throwaway haha repo: settings, 3 datasets, eval.json and `configs` config files."""
    (root / "pyproject.toml").write_text('[tool.haha]\nwandb_project = "haha"\ndata_mount = "/workspace/data"\n')
    for folder in ("config", "data", "eval"):
        (root / "train" / folder).mkdir(parents=True)
    for d, name in enumerate(DATASETS):
        lines = [json.dumps({"instruction": f"Set-up {d}.{i}: my {i % 17} cats formed a band.", "input": "",
                             "output": f"Punchline {i}: they only play " + "purr-cussion " * (i % 9)})
                 for i in range(rows)]
        (root / "train" / "data" / name).write_text("\n".join(lines) + "\n")
    (root / "train" / "eval" / "eval.json").write_text(json.dumps(
        {"prompts": ["It was 100 degrees today."], "settings": [{"temperature": 0.1}], "seedVariants": 3}))
    tokenizer_dir = root / "tokenizer"
    subprocess.run([sys.executable, "-c", BUILD_TOKENIZER, str(tokenizer_dir), str(root / "train/data" / DATASETS[0])],
                   check=True)
    for n in range(configs):
        family = FAMILIES[n % len(FAMILIES)]
        number = n // len(FAMILIES) + 1
        qlora = family.endswith("qlora")
        text = CONFIG.format(
            base_model=tokenizer_dir if family in LOCAL_TOKENIZER_FAMILIES else "meta-llama/Meta-Llama-3-8B",
            eight_bit=str(not qlora).lower(), four_bit=str(qlora).lower(), dataset=DATASETS[n % len(DATASETS)],
            sequence_len=(96, 128, 256)[n % 3], adapter="qlora" if qlora else "lora", lora_r=(8, 16, 32)[n % 3],
            epochs=1 + n % 4, learning_rate=f"{0.0001 + n * 1e-7:.7f}")
        (root / "train" / "config" / f"{family}-{number:03d}.yml").write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # measure validation, not a failing network look-up
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        write_repo(root, args.configs, args.rows)
        started = time.perf_counter()
        from pipeline.config.schema import axolotl_models
        from pipeline.core.settings import load_settings
        from pipeline.orchestration.validation import validate

        axolotl_models()  # Axolotl's schema, imported on the first config otherwise
        # What counting rows and Axolotl's load-time checks import the first time: imports, not validation.
        from axolotl.loaders import tokenizer, utils  # noqa: F401
        from axolotl.prompt_strategies import user_defined  # noqa: F401
        from transformers import AutoTokenizer  # noqa: F401

        imported = time.perf_counter()
        settings = load_settings(root)
        report = validate([str(settings.config_dir)], settings)
        finished = time.perf_counter()
    summary = report.to_json()["summary"]
    counted = sum(d.too_long is not None for c in report.configs for d in c.datasets)
    total, imports = finished - started, imported - started
    print(textwrap.dedent(f"""\
        configs validated   {summary['configs']} ({counted} with rows tokenized), {summary['errors']} errors, \
{summary['warnings']} warnings
        imports             {imports:6.2f} s  ({imports / total:.0%} of the total)
        validation          {finished - imported:6.2f} s  ({(finished - imported) / args.configs * 1000:.1f} ms/config)
        total               {total:6.2f} s  (target: well under 15 s)"""))


if __name__ == "__main__":
    main()
