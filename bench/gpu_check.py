"""The GPU check: configs exactly as written (only `base_model` swapped) through a real `haha run`, no --smoke.

Prepared to run as one command on a lent GPU machine (one H100 or H200, no network):

    .venv/bin/python bench/gpu_check.py [--out scratch/gpu-check]

1. `haha doctor --json` on this machine. Without a CUDA device it stops here, with doctor's table: that is
   what the check does on CPU.
2. Builds a random ~1B Llama and a random ~1B Mistral on the GPU (bench/gpu_model.py, SmolLM2's tokenizer).
3. A throwaway repo with this repo's train/ and settings, the local hub `local:<out>/hub`, and three configs
   as their authors wrote them, each with `base_model` pointing at a built model:
   the sample SFT config (8-bit, adamw_bnb_8bit, gradient checkpointing, bf16: auto), the DPO config that
   starts from it, and the QLoRA 4-bit puns config (on the Mistral). The attention setting is kept when
   flash-attn imports, else set to what doctor resolves (sdpa) with a line saying so.
4. `haha train`, `haha publish` and `haha evaluate` for each, one stage at a time, printing one row per
   stage: seconds, peak GPU memory (nvidia-smi, polled every 200 ms), tokens/s, or the error.

Wheels the machine lacks (axolotl, trl, datasets, bitsandbytes for its CUDA) are installed first from
`--wheels DIR` when given; bench/RESULTS.md says how they were brought before.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
HAHA = str(Path(sys.executable).parent / "haha")
CONFIGS = {  # config -> the built model it trains on
    "haha-llama-3-8b-lora-001": "llama-1b",
    "haha-llama-3-8b-dpo-001": "llama-1b",
    "puns-mistral-7b-001": "mistral-1b",
}
STAGES = ("train", "publish", "evaluate")


@dataclass
class Row:
    config: str
    stage: str
    seconds: float
    peak_gb: float | None
    tokens_per_s: float | None
    error: str = ""


class GpuMemory:
    """The highest memory.used nvidia-smi reports while a stage runs (every process on the GPU)."""

    def __init__(self) -> None:
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=5).stdout
                self.peak_mib = max([self.peak_mib, *(float(v) for v in out.split() if v.strip())])
            except (OSError, ValueError, subprocess.SubprocessError):
                pass
            self._stop.wait(0.2)

    def __enter__(self) -> GpuMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def haha(repo: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HAHA_ROOT": str(repo), "HF_HUB_OFFLINE": "1", "AXOLOTL_DO_NOT_TRACK": "1",
           "WANDB_MODE": "offline"}
    return subprocess.run([HAHA, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)


def doctor_says_cuda(out: Path) -> bool:
    configs = [str(REPO / "train" / "config" / f"{name}.yml") for name in CONFIGS]
    result = haha(REPO, "doctor", *configs)
    print(result.stdout, end="")
    machine = json.loads(haha(REPO, "doctor", "--json", *configs).stdout)["machine"]
    (out / "doctor.json").write_text(json.dumps(machine, indent=2))
    return machine["cuda"] is not None


def prepare(out: Path, flash: bool) -> Path:
    repo = out / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", repo)
    shutil.copytree(REPO / "train", repo / "train", ignore=shutil.ignore_patterns("results"))
    (repo / "train" / "results").mkdir()
    for name, model in CONFIGS.items():
        path = repo / "train" / "config" / f"{name}.yml"
        text = path.read_text()
        written = yaml.safe_load(text)["base_model"]
        text = text.replace(f"base_model: {written}", f"base_model: {out / model}")
        if not flash:
            text = text.replace("attn_implementation: flash_attention_2",
                                "attn_implementation: sdpa  # gpu_check: flash-attn does not import here")
        path.write_text(text)
    settings = repo / "pyproject.toml"
    settings.write_text(settings.read_text().replace("model_dirs = []", f'model_dirs = ["{out}"]'))
    return repo


def tokens_per_second(repo: Path, name: str, stage: str, seconds: float) -> float | None:
    if stage == "train":
        record = repo / "workspace" / "runs" / name / "complete.json"
        if record.is_file():
            data = json.loads(record.read_text())
            tokens = data.get("tokens") or data.get("train_tokens")
            return round(tokens / seconds, 1) if tokens else None
    if stage == "evaluate":
        results = repo / "train" / "results" / f"{name}.json"
        if results.is_file():
            from pipeline.formats.results import load_results

            doc = load_results(results)
            words = sum(len(c.split()) for p in doc.results for s in p.settingsResults for c in s.completions)
            return round(words / seconds, 1)  # words, not tokens: what the completions hold
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "scratch" / "gpu-check")
    parser.add_argument("--wheels", type=Path, default=None, help="a folder of wheels to install first")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.wheels:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                        *map(str, sorted(args.wheels.glob("*.whl")))], check=True)
    if not doctor_says_cuda(out):
        print("gpu_check: stopped before building the models: haha doctor finds no CUDA device (above)")
        raise SystemExit(1)
    for model, arch in (("llama-1b", "llama"), ("mistral-1b", "mistral")):
        if not (out / model / "config.json").is_file():
            subprocess.run([sys.executable, str(REPO / "bench" / "gpu_model.py"), str(out / model), "--arch", arch],
                           check=True)
    import importlib.util

    repo = prepare(out, importlib.util.find_spec("flash_attn") is not None)
    rows: list[Row] = []
    for name in CONFIGS:
        config = str(repo / "train" / "config" / f"{name}.yml")
        for stage in STAGES:
            extra = ("--hub", f"local:{out / 'hub'}") if stage == "publish" else ()
            started = time.perf_counter()
            with GpuMemory() as memory:
                result = haha(repo, stage, *extra, config)
            seconds = time.perf_counter() - started
            error = "" if result.returncode == 0 else (result.stderr.strip() or result.stdout.strip())[-300:]
            rows.append(Row(name, stage, round(seconds, 1), round(memory.peak_mib / 1024, 1) or None,
                            tokens_per_second(repo, name, stage, seconds), error))
            print(json.dumps(rows[-1].__dict__), flush=True)
            if error:
                break
    print("\n| config | stage | seconds | peak GPU GB | tokens/s | error |\n|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row.config} | {row.stage} | {row.seconds} | {row.peak_gb} | {row.tokens_per_s} | "
              f"{row.error.replace('|', '/')[:120]} |")


if __name__ == "__main__":
    main()
