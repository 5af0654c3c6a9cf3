"""A tracker outage never costs a training run: the real wandb client against local endpoints that refuse or
answer, and transformers' real W&B callback behind haha's guard."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from pipeline.formats.tracking import GUARD_MARK, WandbMode
from pipeline.train.tracking import FINISH_TIMEOUT_S, Tracking, init_timeout, start_tracking, wandb_env
from tests.support.haha_cli import refused_url

KEY = "wandbCANARY0123456789abcdef0123456789abcd"


class ViewerHandler(BaseHTTPRequestHandler):
    """Answers W&B's credential check (the `Viewer` GraphQL query `wandb.Api` makes) as W&B does for a good key,
    and anything else wandb's service sends on the side (its own metrics) with an empty 200."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        viewer = {"id": "VXNlcjox", "entity": "jokes-team", "username": "jokes", "email": None, "flags": "{}",
                  "teams": {"edges": []}}
        reply = json.dumps({"data": {"viewer": viewer}}).encode() if b"Viewer" in body else b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not news."""


@pytest.fixture
def answering_wandb() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ViewerHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def wandb_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A key in the environment, W&B's files in tmp_path, and wandb's service process gone afterwards."""
    import wandb

    monkeypatch.setenv("WANDB_API_KEY", KEY)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    yield
    with contextlib.suppress(Exception):  # a service killed on purpose fails its own teardown
        wandb.teardown()


def test_the_check_waits_as_long_as_wandb_init_would(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_INIT_TIMEOUT", raising=False)
    assert init_timeout() == 90
    monkeypatch.setenv("WANDB_INIT_TIMEOUT", "12.5")
    assert init_timeout() == 12.5


def test_an_online_run_whose_wandb_refuses_trains_offline_and_says_why(monkeypatch: pytest.MonkeyPatch,
                                                                       wandb_setup: None) -> None:
    url = refused_url()
    monkeypatch.setenv("WANDB_BASE_URL", url)
    tracking = start_tracking(WandbMode.ONLINE, 3)
    assert tracking.mode is WandbMode.OFFLINE
    assert tracking.unreachable is not None and url in tracking.unreachable and KEY not in tracking.unreachable


def test_an_online_run_whose_wandb_answers_stays_online(monkeypatch: pytest.MonkeyPatch, wandb_setup: None,
                                                        answering_wandb: str) -> None:
    monkeypatch.setenv("WANDB_BASE_URL", answering_wandb)
    assert start_tracking(WandbMode.ONLINE, 30) == Tracking(WandbMode.ONLINE)


def test_only_an_online_child_holds_the_key_and_its_end_waits_a_bounded_time(tmp_path: Path) -> None:
    env = {"WANDB_API_KEY": KEY, "PATH": "/usr/bin"}
    for mode in (WandbMode.OFFLINE, WandbMode.DISABLED):
        child = wandb_env(env, mode, tmp_path)
        assert "WANDB_API_KEY" not in child and child["WANDB_MODE"] == mode and child["PATH"] == "/usr/bin"
    online = wandb_env(env, WandbMode.ONLINE, tmp_path)
    assert online["WANDB_API_KEY"] == KEY and online["WANDB_FINISH_TIMEOUT"] == str(FINISH_TIMEOUT_S)
    assert wandb_env({**env, "WANDB_FINISH_TIMEOUT": "60"}, WandbMode.ONLINE, tmp_path)["WANDB_FINISH_TIMEOUT"] == "60"


def trainer_events(tmp_path: Path, model_dir: Path) -> tuple[Any, ...]:
    """What the Trainer hands a callback: its arguments, state, control and model (the tiny Llama)."""
    from transformers import AutoModelForCausalLM, TrainerControl, TrainerState, TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to=["wandb"], run_name="jokes-001",
                             use_cpu=True)
    return args, TrainerState(), TrainerControl(), AutoModelForCausalLM.from_pretrained(model_dir)


def test_a_wandb_init_that_fails_in_the_child_ends_the_tracking_not_the_training(
        monkeypatch: pytest.MonkeyPatch, wandb_setup: None, tmp_path: Path, tiny_model_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """W&B gone between haha's check and the child's own `wandb.init`: the init fails after its timeout."""
    from pipeline.train.tracking_plugin import GuardedWandbCallback

    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_BASE_URL", refused_url())
    monkeypatch.setenv("WANDB_INIT_TIMEOUT", "3")
    args, state, control, model = trainer_events(tmp_path, tiny_model_dir)
    callback = GuardedWandbCallback()
    assert callback.on_train_begin(args, state, control, model=model) is None
    assert callback.failed
    # Once failed, the callback is quiet: no second `wandb.init` (and its wait) at the next log.
    assert callback.on_log(args, state, control, model=model, logs={"loss": 1.0}) is None
    errors = capsys.readouterr().err
    assert errors.count(GUARD_MARK) == 1 and "CommError" in errors and KEY not in errors


def test_a_wandb_service_that_dies_mid_run_ends_the_tracking_not_the_training(
        monkeypatch: pytest.MonkeyPatch, wandb_setup: None, tmp_path: Path, tiny_model_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    import wandb

    from pipeline.train.tracking_plugin import GuardedWandbCallback

    monkeypatch.setenv("WANDB_MODE", "offline")
    args, state, control, model = trainer_events(tmp_path, tiny_model_dir)
    callback = GuardedWandbCallback()
    callback.on_train_begin(args, state, control, model=model)
    callback.on_log(args, state, control, model=model, logs={"loss": 1.0})
    assert not callback.failed
    for process in psutil.Process().children(recursive=True):
        if process.name().startswith("wandb"):
            process.kill()
            process.wait()
    with pytest.raises(ConnectionError):  # what transformers' own callback would let through to the Trainer
        wandb.log({"loss": 0.9})
    assert callback.on_log(args, state, control, model=model, logs={"loss": 0.9}) is None
    assert callback.failed
    errors = capsys.readouterr().err
    assert errors.count(GUARD_MARK) == 1 and "ConnectionResetError" in errors
    assert list(tmp_path.glob("wandb/offline-run-*/run-*.wandb")), "the record written until then is kept"
