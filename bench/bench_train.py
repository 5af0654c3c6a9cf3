"""Pipeline overhead: `haha train --smoke` vs bare `axolotl train` on the same effective config.

Both run back to back, alternating, in one process tree on this machine; each side is timed
wall-clock from launch to exit and the medians are compared. Target ratio: <= 1.10.

    .venv/bin/python bench/bench_train.py [--repeats 3] [--config train/config/<name>.yml]
"""

from __future__ import annotations

import argparse
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


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--config", type=Path, default=ROOT / "train/config/haha-llama-3-8b-lora-001.yml")
    args = parser.parse_args()

    from pipeline.runs import RunPaths
    from pipeline.training import child_env

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        basename = args.config.name.removesuffix(".yml")
        haha_cmd = [str(BIN / "haha"), "train", "--smoke", "--workspace", str(scratch / "haha"), str(args.config)]
        # One haha run builds the tiny model and writes the effective config that bare Axolotl reuses.
        subprocess.run(haha_cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        haha_run = RunPaths(scratch / "haha" / "runs", basename)
        bare_run = RunPaths(scratch / "bare", basename)
        bare_config = yaml.safe_load(haha_run.config.read_text())
        bare_config.update(output_dir=str(bare_run.adapter_dir), dataset_prepared_path=str(bare_run.prepared_dir))
        bare_run.run_dir.mkdir(parents=True)
        bare_run.config.write_text(yaml.safe_dump(bare_config, sort_keys=False))
        bare_cmd = [str(BIN / "axolotl"), "train", str(bare_run.config), "--launcher", "python"]
        env = child_env(bare_run, "offline", local_model=True)

        haha_times, bare_times = [], []
        for repeat in range(args.repeats):
            shutil.rmtree(haha_run.run_dir)
            haha_times.append(timed(haha_cmd, env))
            shutil.rmtree(bare_run.adapter_dir, ignore_errors=True)
            shutil.rmtree(bare_run.prepared_dir, ignore_errors=True)
            bare_times.append(timed(bare_cmd, env))
            print(f"repeat {repeat + 1}: haha {haha_times[-1]:.1f}s  bare axolotl {bare_times[-1]:.1f}s", flush=True)

    haha_median, bare_median = statistics.median(haha_times), statistics.median(bare_times)
    print(f"median over {args.repeats}: haha train --smoke {haha_median:.1f}s, bare axolotl train "
          f"{bare_median:.1f}s, ratio {haha_median / bare_median:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
