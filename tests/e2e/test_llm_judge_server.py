"""The LLM judge against real servers on 127.0.0.1: llama.cpp's OpenAI-compatible server with SmolLM2 as the judge,
a port where nothing listens, and a server that answers HTML.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.core.retry import Backoff
from pipeline.core.settings import load_settings
from pipeline.formats.results import ResultsDoc, dumps_results, load_results
from pipeline.judges.cache import AnswerCache, answer_key
from pipeline.judges.local import free_port
from pipeline.judges.prompt import DEFAULT_TEMPLATE, PromptTemplate
from pipeline.orchestration.llm_judging import JUDGMENTS, judge_with_llm
from tests.support.llm_server import LlmServer, llm_server
from tests.support.sample_results import results_doc

SECRET = "sk-haha-test-0123456789abcdef"
FAST = Backoff(tries=2, first=0.01, cap=0.01)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmServer]:
    with llm_server(tmp_path_factory.mktemp("llm-server") / "server.log") as running:
        yield running


def small_doc(name: str, prompts: int, seeds: int) -> str:
    """A results file made by the eval's writers, cut to `prompts` prompts x the first setting x `seeds` seeds."""
    doc = ResultsDoc.model_validate(results_doc(name))
    doc.results = doc.results[:prompts]
    for prompt in doc.results:
        prompt.settingsResults = prompt.settingsResults[:1]
        prompt.settingsResults[0].completions = prompt.settingsResults[0].completions[:seeds]
    return dumps_results(doc)


def judged_repo(root: Path, base_url: str, model: str, max_requests: int = 100, prompts: int = 2,
                seeds: int = 2) -> Path:
    with open(root / "pyproject.toml", "a", encoding="utf-8") as out:
        out.write(f'\n[tool.haha.judges.smollm]\nkind = "llm"\nmodel = "{model}"\nbase_url = "{base_url}"\n'
                  f"max_requests = {max_requests}\nmax_tokens = 8\n")  # the verdict is the first word
    results = root / "train" / "results"
    results.mkdir(parents=True, exist_ok=True)
    for name in ("jokes-001", "jokes-002"):
        (results / f"{name}.json").write_text(small_doc(name, prompts, seeds))
    return results


def cache_lines(results: Path) -> list[str]:
    path = results / JUDGMENTS / "smollm" / "answers.jsonl"
    return path.read_text().splitlines() if path.exists() else []


def test_each_pair_is_asked_in_both_orders_once_and_the_key_is_never_written(
        haha_repo: Path, server: LlmServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    results = judged_repo(haha_repo, server.base_url, server.model)
    before = server.requests()
    outcome = judge_with_llm(load_settings(haha_repo), results, None, ["jokes-002"], against="jokes-001")
    assert (outcome.asked, outcome.reused, outcome.remaining, outcome.failures) == (8, 0, 0, [])
    assert server.requests() - before == 8  # 2 prompts x 2 seeds, each in both orders
    cache = AnswerCache(results / JUDGMENTS / "smollm")
    template = PromptTemplate(DEFAULT_TEMPLATE)
    doc = load_results(results / "jokes-002.json")
    for prompt in doc.results:
        for seed, text in enumerate(prompt.settingsResults[0].completions):
            other = text.replace("jokes-002", "jokes-001")
            asked = template.render(prompt.prompt, text, other), template.render(prompt.prompt, other, text)
            assert all(cache.get(answer_key(server.model, question)) for question in asked), (prompt, seed)
    judgment = doc.judgments[0]
    assert (judgment.judge, judgment.other, judgment.n) == ("smollm", "jokes-001", 4)
    assert judgment.wins + judgment.losses + judgment.ties == 4
    assert judgment.interval[0] <= judgment.win_rate <= judgment.interval[1]

    again = judge_with_llm(load_settings(haha_repo), results, None, ["jokes-002"], against="jokes-001")
    assert (again.asked, again.reused) == (0, 8) and server.requests() - before == 8  # a re-run asks nothing
    assert len(load_results(results / "jokes-002.json").judgments) == 1  # replaced, not added
    written = [p for p in haha_repo.rglob("*") if p.is_file() and ".git" not in p.parts]
    assert not [p for p in written if SECRET in p.read_text(errors="replace")]


def test_max_requests_stops_the_run_and_says_what_remains(haha_repo: Path, server: LlmServer) -> None:
    results = judged_repo(haha_repo, server.base_url, server.model, max_requests=3)
    before = server.requests()
    outcome = judge_with_llm(load_settings(haha_repo), results, None, ["jokes-002"], against="jokes-001")
    assert outcome.stopped == "max_requests (3) reached"
    assert (outcome.asked, outcome.remaining, server.requests() - before) == (3, 5, 3)
    assert outcome.judgments == [] and [missing for _, missing in outcome.incomplete] == [3]  # pairs lacking answers
    assert load_results(results / "jokes-002.json").judgments == []  # nothing half-judged is recorded
    assert len(cache_lines(results)) == 3


RESUMED = """
import sys
from pathlib import Path
from pipeline.core.settings import load_settings
from pipeline.orchestration.llm_judging import judge_with_llm
root = Path(sys.argv[1])
judge_with_llm(load_settings(root), root / "train" / "results", None, ["jokes-002"], against="jokes-001")
"""


def test_a_run_killed_midway_resumes_with_no_answer_lost_or_doubled(haha_repo: Path, server: LlmServer) -> None:
    results = judged_repo(haha_repo, server.base_url, server.model)  # 8 questions
    before = server.requests()
    child = subprocess.Popen([sys.executable, "-c", RESUMED, str(haha_repo)], env={**os.environ, "HAHA_ROOT": ""},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(cache_lines(results)) < 3 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    kept = len(cache_lines(results))
    assert 3 <= kept < 8, "the run was not stopped midway"
    outcome = judge_with_llm(load_settings(haha_repo), results, None, ["jokes-002"], against="jokes-001")
    assert outcome.reused == kept and outcome.asked == 8 - kept and outcome.remaining == 0
    keys = [json.loads(line)["key"] for line in cache_lines(results)]
    assert len(keys) == len(set(keys)) == 8
    assert 8 <= server.requests() - before <= 9  # at most the one answer in flight at the kill was lost
    assert load_results(results / "jokes-002.json").judgments[0].n == 4


def test_a_port_where_nothing_listens_is_a_clear_error(haha_repo: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    results = judged_repo(haha_repo, url, "any")
    outcome = judge_with_llm(load_settings(haha_repo), results, None, ["jokes-002"], against="jokes-001",
                             backoff=FAST)
    assert outcome.stopped == "3 questions in a row failed" and outcome.asked == 0 and outcome.remaining == 8
    assert f"judge smollm at {url}: Connection error" in outcome.failures[0]
    assert "after 2 tries" in outcome.failures[0]


class Garbage(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = b"<html><body>Welcome to the captive portal</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def test_a_server_answering_html_is_a_clear_error(haha_repo: Path) -> None:
    garbage = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=garbage.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{garbage.server_address[1]}/v1"
        results = judged_repo(haha_repo, url, "any")
        outcome = judge_with_llm(load_settings(haha_repo), results, None, ["jokes-002"], against="jokes-001",
                                 backoff=FAST)
    finally:
        garbage.shutdown()
    assert outcome.asked == 0 and outcome.failures
    assert "the answer is not an OpenAI chat completion" in outcome.failures[0], outcome.failures[0]


def test_haha_judge_and_rank_print_the_win_rate_and_the_leaderboard(
        haha_repo: Path, server: LlmServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from pipeline.cli.main import app

    results = judged_repo(haha_repo, server.base_url, server.model, prompts=1, seeds=2)
    monkeypatch.setenv("HAHA_ROOT", str(haha_repo))
    judged = CliRunner().invoke(app, ["judge", "jokes-002", "jokes-001", "--judge", "smollm",
                                      "--results-dir", str(results)])
    assert judged.exit_code == 0, judged.output
    assert "jokes-002" in judged.stdout and "4 questions asked, 0 answered from the cache" in judged.stdout
    ranked = CliRunner().invoke(app, ["rank", "--judge", "smollm", "--results-dir", str(results)])
    assert ranked.exit_code == 0, ranked.output
    assert "Bradley-Terry" in ranked.stdout and "jokes-001" in ranked.stdout and "jokes-002" in ranked.stdout
    again = CliRunner().invoke(app, ["judge", "--judge", "smollm", "--results-dir", str(results)])
    assert again.exit_code == 0, again.output
    assert "0 questions asked, 4 answered from the cache" in again.stdout  # jokes-002 against jokes-001, cached
