"""What Axolotl's training log says that no file it writes does: the samples it generated during training and
its sample-packing efficiency.

With `generate_samples: true`, Axolotl's `SFTGenerationCallback` generates `num_generation_samples` completions
at every evaluation and logs each block as `format_generation_for_logging` lays it out:

    ================================================================================
    Sample 1 (Step 8)
    ================================================================================
    [PROMPT]
    <the first generation_prompt_ratio of an eval row's tokens>

    [GENERATED]
    <what the model wrote after it>
    ================================================================================

It sends them only to the console and W&B, so the pipeline reads them back from the log it already keeps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pipeline.core.runs import TrainingSample

ANSI = re.compile(r"\x1b\[[0-9;]*m")
RULE = "=" * 80
SAMPLE_HEADER = re.compile(r"^Sample (\d+) \(Step (\d+)\)$")
PROMPT_MARK = "[PROMPT]"
GENERATED_MARK = "[GENERATED]"
# `calc_sample_packing_eff_est` logs the estimate each rank made, as a Python list.
PACKING_ESTIMATE = re.compile(r"sample_packing_eff_est across ranks: \[([0-9.eE+-]+)")


def _plain(lines: Iterable[str]) -> list[str]:
    return [ANSI.sub("", line).rstrip("\n") for line in lines]


def _block_end(lines: list[str], start: int) -> int:
    """The index of the rule that closes the block whose text starts at `start` (or the end of the log)."""
    for index in range(start, len(lines)):
        if lines[index].strip() == RULE:
            return index
    return len(lines)


def training_samples(log_lines: Iterable[str]) -> list[TrainingSample]:
    """Every sample block in the log, in the order written; a block cut off by the end of the log is skipped."""
    lines = _plain(log_lines)
    found = []
    index = 0
    while index < len(lines):
        header = SAMPLE_HEADER.match(lines[index].strip())
        if header is None or index + 2 >= len(lines) or lines[index + 2].strip() != PROMPT_MARK:
            index += 1
            continue
        try:
            marker = lines.index(GENERATED_MARK, index + 3)
        except ValueError:
            break
        end = _block_end(lines, marker + 1)
        if end == len(lines):
            break
        # The prompt is followed by one blank line before the [GENERATED] mark.
        prompt = "\n".join(lines[index + 3:marker]).removesuffix("\n")
        found.append(TrainingSample(step=int(header[2]), index=int(header[1]), prompt=prompt,
                                    generated="\n".join(lines[marker + 1:end])))
        index = end + 1
    return found


def packing_efficiency(log_lines: Iterable[str]) -> float | None:
    """The share of token slots Axolotl's multipack sampler filled, as it last estimated it (None: no packing)."""
    estimate = None
    for line in log_lines:
        if match := PACKING_ESTIMATE.search(line):
            estimate = float(match[1])
    return estimate
