"""Pipeline overhead: `haha train --smoke` vs bare `axolotl train` on the same effective config.

Both run back to back, alternating, in one process tree on this machine; each side is timed
wall-clock from launch to exit and the medians are compared. Target ratio: <= 1.10. Each side
also reports the Trainer's own seconds per optimizer step (train_runtime / steps), the figure
that says how long a smoke run of N steps takes on this machine.

    .venv/bin/python bench/bench_train.py [--repeats 3] [--smoke-model embedded|tiny] [--steps 10]
    .venv/bin/python bench/bench_train.py --model-dir DIR [--steps 30] [--repeats 2]     # on a GPU

--model-dir runs a real (not smoke) bf16 LoRA training of the sample config on that local base
model (bench/gpu_model.py builds the ~1B Llama of the GPU figures), changed only where a GPU box
may lack something (GPU_CHANGES) and stopped after --steps; it also prints tokens/s, counting
micro_batch_size x gradient_accumulation_steps x sequence_len tokens per step (rows are padded). The
model folder must be inside the repo (e.g. scratch/llama-1b) or a [tool.haha] model_dirs folder: the
config policy refuses base models anywhere else.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


RUNTIME = re.compile(r"\{'train_runtime'[^}]*\}")
# The sample config on a GPU box without bitsandbytes kernels or flash-attn, and with a tokenizer that may lack
# Llama 3's pad token: what is measured is a plain bf16 LoRA, the same on both sides.
GPU_CHANGES = {"load_in_8bit": False, "optimizer": "adamw_torch", "attn_implementation": "sdpa", "bf16": True,
               "special_tokens": None}


def gpu_config(config_path: Path, model_dir: Path, steps: int, folder: Path) -> Path:
    """The sample config aimed at a local model for `steps` steps, written where haha finds a config name."""
    config = yaml.safe_load(config_path.read_text())
    config.update(base_model=str(model_dir.resolve()), max_steps=steps)
    for key, value in GPU_CHANGES.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    folder.mkdir(parents=True)
    path = folder / "haha-gpu-bench-001.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def timed(command: list[str], env: dict[str, str], steps: int) -> tuple[float, float]:
    """Wall seconds from launch to exit, and the Trainer's seconds per step from its closing metrics."""
    started = time.perf_counter()
    done = subprocess.run(command, check=True, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    log = done.stdout + done.stderr
    found = RUNTIME.findall(log)
    if not found:  # haha streams Axolotl's output into the run's train.log instead
        found = RUNTIME.findall(Path(command[command.index("--workspace") + 1], "runs").joinpath(
            Path(command[-1]).stem, "train.log").read_text())
    runtime = float(ast.literal_eval(found[-1])["train_runtime"])
    return wall, runtime / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--config", type=Path, default=ROOT / "train/config/haha-llama-3-8b-lora-001.yml")
    parser.add_argument("--smoke-model", choices=("embedded", "tiny"), default="embedded")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--model-dir", type=Path, default=None, help="A real bf16 run on this local model (GPU).")
    args = parser.parse_args()

    from pipeline.core.runs import RunPaths
    from pipeline.formats.tracking import WandbMode
    from pipeline.train.axolotl import child_env

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        config = args.config
        if args.model_dir:
            config = gpu_config(args.config, args.model_dir, args.steps, scratch / "config")
        basename = config.name.removesuffix(".yml")
        smoke = ["--smoke", "--smoke-model", args.smoke_model, "--smoke-steps", str(args.steps)]
        haha_cmd = [str(BIN / "haha"), "train", *([] if args.model_dir else smoke), "--wandb", "disabled",
                    "--workspace", str(scratch / "haha"), str(config)]
        # One haha run builds the tiny model and writes the effective config that bare Axolotl reuses.
        subprocess.run(haha_cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        haha_run = RunPaths(scratch / "haha" / "runs", basename)
        bare_run = RunPaths(scratch / "bare", basename)
        bare_config = yaml.safe_load(haha_run.config.read_text())
        bare_config.update(output_dir=str(bare_run.adapter_dir), dataset_prepared_path=str(bare_run.prepared_dir))
        bare_run.run_dir.mkdir(parents=True)
        bare_run.config.write_text(yaml.safe_dump(bare_config, sort_keys=False))
        bare_cmd = [str(BIN / "axolotl"), "train", str(bare_run.config), "--launcher", "python"]
        env = child_env(bare_run, WandbMode.DISABLED, local_model=True)
        tokens = bare_config["micro_batch_size"] * bare_config["gradient_accumulation_steps"] * \
            bare_config["sequence_len"]

        haha_times, bare_times, haha_steps, bare_steps = [], [], [], []
        for repeat in range(args.repeats):
            shutil.rmtree(haha_run.run_dir)
            wall, per_step = timed(haha_cmd, env, args.steps)
            haha_times.append(wall)
            haha_steps.append(per_step)
            if (record := haha_run.completion()) is not None and repeat == 0:
                print(f"haha's record: trained on {record.gpus} x {record.gpu_type} ({record.seconds:.1f} s)")
            shutil.rmtree(bare_run.adapter_dir, ignore_errors=True)
            shutil.rmtree(bare_run.prepared_dir, ignore_errors=True)
            wall, per_step = timed(bare_cmd, env, args.steps)
            bare_times.append(wall)
            bare_steps.append(per_step)
            print(f"repeat {repeat + 1}: haha {haha_times[-1]:.1f}s ({haha_steps[-1]:.2f} s/step)  bare axolotl "
                  f"{bare_times[-1]:.1f}s ({bare_steps[-1]:.2f} s/step)", flush=True)

    haha_median, bare_median = statistics.median(haha_times), statistics.median(bare_times)
    if args.model_dir:
        haha_rate, bare_rate = tokens / statistics.median(haha_steps), tokens / statistics.median(bare_steps)
        print(f"{args.model_dir}, bf16 LoRA: haha train {haha_rate:.0f} tokens/s, bare axolotl train {bare_rate:.0f} "
              f"tokens/s (ratio {haha_rate / bare_rate:.3f})")
    print(f"{args.model_dir or args.smoke_model} model, {args.steps} steps; median over {args.repeats}: haha train "
          f"{haha_median:.1f}s ({statistics.median(haha_steps):.2f} s/step), bare axolotl train {bare_median:.1f}s "
          f"({statistics.median(bare_steps):.2f} s/step), ratio {haha_median / bare_median:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
