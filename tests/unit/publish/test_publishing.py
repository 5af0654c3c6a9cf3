"""Publishing: the local hub on disk, and the real huggingface_hub client against a fake Hub on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import shutil
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from huggingface_hub import constants
from safetensors.torch import save_file

from pipeline.core.errors import UsageError
from pipeline.core.retry import Backoff
from pipeline.core.runs import adapter_sha256
from pipeline.publish.fetch import fetch_adapter
from pipeline.publish.hf import HfHub
from pipeline.publish.hub import Hub, HubAuthError, PublishError, Push, publish
from pipeline.publish.local import PUSH_LOG, LocalHub
from pipeline.publish.modelcard import CardInputs, render_card
from pipeline.publish.target import parse_hub
from tests.support.hub_server import FakeHub

ORG, NAME = "haha-lab", "haha-llama-3-8b-lora-001"
REPO_ID = f"{ORG}/{NAME}"
HASH_A, HASH_B = "a" * 64, "b" * 64
FAST = Backoff(tries=3, first=0.01)
PUBLISHED = {
    "adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "chat_template.jinja", "README.md",
}


@pytest.fixture
def adapter_dir(tmp_path: Path) -> Path:
    """What Axolotl leaves in output_dir: the adapter and tokenizer, plus things that must never be pushed."""
    out = tmp_path / "adapter"
    out.mkdir()
    save_file({"base_model.model.lora_A.weight": torch.arange(4.0).reshape(2, 2)}, out / "adapter_model.safetensors")
    (out / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2, "lora_alpha": 4}))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (out / name).write_text(json.dumps({"name": name}))
    (out / "chat_template.jinja").write_text("{% for m in messages %}{{ m.content }}{% endfor %}")
    (out / "README.md").write_text("Axolotl's own card, with the raw YAML in it")
    (out / "training_args.bin").write_bytes(b"\x00args")
    (out / "debug.log").write_text("log line")
    (out / "checkpoint-5").mkdir()
    (out / "checkpoint-5" / "optimizer.pt").write_bytes(b"\x00optimizer")
    return out


@pytest.fixture(autouse=True)
def hub_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake Hub is on this machine: the real client must talk to it even where HF_HUB_OFFLINE is set."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", "hf_test_token_for_the_fake_hub")
        yield server


def _hf(retry: Backoff = FAST) -> HfHub:
    """The hub `--hub hf` names (HF_ENDPOINT: the fake Hub), retrying without the real waits."""
    hub = parse_hub("hf")
    assert isinstance(hub, HfHub)
    return replace(hub, retry=retry)


def _card(config: dict[str, object] | None = None) -> str:
    return render_card(CardInputs(REPO_ID, NAME, "meta-llama/Meta-Llama-3-8B", HASH_A, config or {"lora_r": 2}))


# ---- hub specs -------------------------------------------------------------------------------------------


def test_parse_hub_reads_both_forms(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    assert parse_hub(f"local:{tmp_path}") == LocalHub(tmp_path)
    assert parse_hub("hf") == HfHub("http://127.0.0.1:9")


@pytest.mark.parametrize("spec", ["", "local:", "HF", "s3://bucket", "hub"])
def test_parse_hub_refuses_anything_else(spec: str) -> None:
    with pytest.raises(UsageError, match=r"local:DIR .* or hf"):
        parse_hub(spec)


def test_missing_adapter_is_refused_before_any_push(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match=r"adapter_model\.safetensors.*train the config"):
        publish(Push(tmp_path, ORG, NAME, "card", HASH_A, True), parse_hub(f"local:{tmp_path / 'hub'}"))
    assert not (tmp_path / "hub").exists()


@pytest.mark.parametrize(("org", "name"), [("..", NAME), (ORG, "../escape"), ("haha/lab", NAME), (ORG, "")])
def test_repo_names_cannot_escape_the_hub_folder(adapter_dir: Path, tmp_path: Path, org: str, name: str) -> None:
    with pytest.raises(PublishError, match="not a valid Hub org or repo name"):
        publish(Push(adapter_dir, org, name, "card", HASH_A, True), parse_hub(f"local:{tmp_path / 'hub'}"))


# ---- local hub -------------------------------------------------------------------------------------------


def test_local_push_lays_out_the_repo(adapter_dir: Path, tmp_path: Path) -> None:
    card = _card()
    result = publish(Push(adapter_dir, ORG, NAME, card, HASH_A, True), parse_hub(f"local:{tmp_path / 'hub'}"))

    repo = tmp_path / "hub" / ORG / NAME
    assert not result.skipped
    assert (result.repo_id, result.url) == (REPO_ID, repo.resolve().as_uri())
    assert {p.name for p in repo.iterdir()} == PUBLISHED | {".haha"}
    for name in PUBLISHED - {"README.md"}:
        assert (repo / name).read_bytes() == (adapter_dir / name).read_bytes()
    assert (repo / "README.md").read_text() == card
    [record] = [json.loads(line) for line in (repo / PUSH_LOG).read_text().splitlines()]
    assert record["config_sha256"] == HASH_A
    assert record["files"] == sorted(PUBLISHED)
    assert record["revision"] == result.revision and len(result.revision) == 64
    assert record["time"].endswith("+00:00")
    assert [p.name for p in repo.parent.iterdir()] == [NAME], "no staging folder is left behind"


def test_local_push_is_skipped_for_the_same_hash_and_repeated_for_a_new_one(adapter_dir: Path, tmp_path: Path) -> None:
    spec = f"local:{tmp_path / 'hub'}"
    first = publish(Push(adapter_dir, ORG, NAME, "card A", HASH_A, True), parse_hub(spec))
    again = publish(Push(adapter_dir, ORG, NAME, "card A, edited", HASH_A, True), parse_hub(spec))
    (adapter_dir / "chat_template.jinja").unlink()
    changed = publish(Push(adapter_dir, ORG, NAME, "card B", HASH_B, True), parse_hub(spec))

    repo = tmp_path / "hub" / ORG / NAME
    assert again.skipped and again.revision == first.revision
    assert not changed.skipped and changed.revision != first.revision
    assert (repo / "README.md").read_text() == "card B"
    assert not (repo / "chat_template.jinja").exists(), "a push replaces the repo's files, stale ones included"
    pushes = [json.loads(line) for line in (repo / PUSH_LOG).read_text().splitlines()]
    assert [p["config_sha256"] for p in pushes] == [HASH_A, HASH_B]


def test_a_failed_local_push_leaves_the_repo_as_it_was(
    adapter_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = f"local:{tmp_path / 'hub'}"
    publish(Push(adapter_dir, ORG, NAME, "card A", HASH_A, True), parse_hub(spec))
    repo = tmp_path / "hub" / ORG / NAME
    before = {p.name: p.read_bytes() for p in repo.iterdir() if p.is_file()}

    copies: list[str] = []

    def copy_then_fail(src: Path, dst: Path) -> None:
        if copies:
            raise OSError("disk full")
        copies.append(str(src))
        shutil.copyfile(src, dst)

    monkeypatch.setattr(shutil, "copy2", copy_then_fail)
    with pytest.raises(OSError, match="disk full"):
        publish(Push(adapter_dir, ORG, NAME, "card B", HASH_B, True), parse_hub(spec))

    assert {p.name: p.read_bytes() for p in repo.iterdir() if p.is_file()} == before
    assert len((repo / PUSH_LOG).read_text().splitlines()) == 1
    assert [p.name for p in repo.parent.iterdir()] == [NAME]


def test_a_swap_cut_off_between_renames_is_recovered(adapter_dir: Path, tmp_path: Path) -> None:
    spec = f"local:{tmp_path / 'hub'}"
    first = publish(Push(adapter_dir, ORG, NAME, "card A", HASH_A, True), parse_hub(spec))
    repo = tmp_path / "hub" / ORG / NAME
    repo.rename(repo.with_name(f".{NAME}.previous"))  # the old repo moved aside, the new one never arrived

    again = publish(Push(adapter_dir, ORG, NAME, "card A", HASH_A, True), parse_hub(spec))

    assert again.skipped and again.revision == first.revision
    assert [p.name for p in repo.parent.iterdir()] == [NAME]


# ---- Hugging Face Hub (real client, fake server) ---------------------------------------------------------


@pytest.mark.parametrize("hub_spec", ["local", "hf"])
def test_a_retrained_adapter_is_pushed_again_and_the_revision_holds_it(adapter_dir: Path, hub: FakeHub,
                                                                      tmp_path: Path, hub_spec: str) -> None:
    """Same config hash, new weights (a forced or resumed retrain): the push must happen, or the results would
    point at a revision holding weights that were never evaluated."""
    target = LocalHub(tmp_path / "hub") if hub_spec == "local" else _hf()
    first = publish(Push(adapter_dir, ORG, NAME, "card", HASH_A, True), target)
    (adapter_dir / "adapter_model.safetensors").write_bytes(b"retrained weights")
    second = publish(Push(adapter_dir, ORG, NAME, "card", HASH_A, True), target)
    assert not second.skipped and second.revision != first.revision
    third = publish(Push(adapter_dir, ORG, NAME, "card", HASH_A, True), target)
    assert third.skipped and third.revision == second.revision
    if hub_spec == "hf":
        assert hub.repos[REPO_ID].files["adapter_model.safetensors"] == b"retrained weights"
    else:
        assert (tmp_path / "hub" / ORG / NAME / "adapter_model.safetensors").read_bytes() == b"retrained weights"


def test_hf_push_is_one_commit_carrying_the_hash(adapter_dir: Path, hub: FakeHub) -> None:
    card = _card()
    result = publish(Push(adapter_dir, ORG, NAME, card, HASH_A, True), _hf())

    repo = hub.repos[REPO_ID]
    assert repo.private
    assert set(repo.files) == PUBLISHED | {".gitattributes"}
    for name in PUBLISHED - {"README.md"}:
        assert repo.files[name] == (adapter_dir / name).read_bytes()
    assert repo.files["README.md"].decode() == card
    latest, _initial = repo.commits
    assert latest.title == f"haha: {NAME} config sha256 {HASH_A} adapter sha256 {adapter_sha256(adapter_dir)}"
    assert (result.repo_id, result.revision, result.url, result.skipped) == (
        REPO_ID, latest.id, f"{hub.url}/{REPO_ID}", False
    )
    assert len(hub.requests_to("commit")) == 1
    assert not hub.requests_to("unknown")


def test_hf_republish_with_the_same_hash_makes_no_commit(adapter_dir: Path, hub: FakeHub) -> None:
    first = publish(Push(adapter_dir, ORG, NAME, _card(), HASH_A, True), _hf())
    again = publish(Push(adapter_dir, ORG, NAME, _card(), HASH_A, True), _hf())
    (adapter_dir / "chat_template.jinja").unlink()
    changed = publish(Push(adapter_dir, ORG, NAME, _card(), HASH_B, True), _hf())

    assert again.skipped and again.revision == first.revision
    assert not changed.skipped and changed.revision != first.revision
    assert len(hub.requests_to("commit")) == 2
    assert [c.title.split()[4] for c in hub.repos[REPO_ID].commits[:2]] == [HASH_B, HASH_A]
    assert "chat_template.jinja" not in hub.repos[REPO_ID].files, "a file the new adapter lacks is deleted"


def test_forced_publish_pushes_the_same_hash_again(adapter_dir: Path, hub: FakeHub, tmp_path: Path) -> None:
    spec = f"local:{tmp_path / 'hub'}"
    local_first = publish(Push(adapter_dir, ORG, NAME, "card A", HASH_A, True), parse_hub(spec))
    (adapter_dir / "adapter_model.safetensors").write_bytes(b"retrained weights")
    local_forced = publish(Push(adapter_dir, ORG, NAME, "card A", HASH_A, True, force=True), parse_hub(spec))
    assert not local_forced.skipped and local_forced.revision != local_first.revision

    hf_first = publish(Push(adapter_dir, ORG, NAME, _card(), HASH_A, True), _hf())
    hf_forced = publish(Push(adapter_dir, ORG, NAME, _card(), HASH_A, True, force=True), _hf())
    assert not hf_forced.skipped and hf_forced.revision != hf_first.revision
    assert len(hub.requests_to("commit")) == 2


# Not preupload: huggingface_hub retries that one itself (http_backoff, 1 s base delay).
@pytest.mark.parametrize(("endpoint", "statuses"), [("commit", [503]), ("create", [429, 502])])
def test_hf_transient_failures_are_retried(
    adapter_dir: Path, hub: FakeHub, endpoint: str, statuses: list[int]
) -> None:
    hub.fail(endpoint, *statuses)
    result = publish(Push(adapter_dir, ORG, NAME, _card(), HASH_A, True), _hf(Backoff(tries=3, first=0)))

    assert not result.skipped
    assert len(hub.requests_to(endpoint)) == len(statuses) + 1
    assert len(hub.repos[REPO_ID].commits) == 2, "exactly one commit on top of the initial one"


def test_hf_gives_up_after_the_configured_tries(adapter_dir: Path, hub: FakeHub) -> None:
    hub.fail("commit", 503, 503, 503)
    with pytest.raises(PublishError, match="gave up after 3 tries"):
        publish(Push(adapter_dir, ORG, NAME, _card(), HASH_A, True), _hf())
    assert len(hub.requests_to("commit")) == 3


def test_hf_unreachable_endpoint_is_retried_then_reported(
    adapter_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(PublishError, match=r"creating .* gave up after 2 tries: ConnectError"):
        publish(Push(adapter_dir, ORG, NAME, _card(), HASH_A, True), _hf(Backoff(tries=2, first=0)))


@pytest.mark.parametrize(("endpoint", "status"), [("commit", 403), ("create", 401)])
def test_hf_refused_credentials_fail_at_once(adapter_dir: Path, hub: FakeHub, endpoint: str, status: int) -> None:
    hub.fail(endpoint, status, status, status)
    with pytest.raises(HubAuthError, match=rf"HTTP {status}.*check HF_TOKEN has write access to {ORG}"):
        publish(Push(adapter_dir, ORG, NAME, _card(), HASH_A, True), _hf())
    assert len(hub.requests_to(endpoint)) == 1
    assert hub.requests[-1].endpoint == endpoint, "nothing is sent after the refusal"


def test_hf_token_never_leaks(
    adapter_dir: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    canary = "hf_CANARY_2f9c1e7d5b3a4c6e8f0a"
    monkeypatch.setenv("HF_TOKEN", canary)
    monkeypatch.setattr(huggingface_hub.constants, "HF_DEBUG", True)  # the client logs each request as curl
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="huggingface_hub")
    card = _card({"hf_token": canary, "hub_model_id": f"{ORG}/{NAME}", "comment": f"token is {canary}"})
    hub.fail("commit", 503)  # so the retry warning is logged too

    publish(Push(adapter_dir, ORG, NAME, card, HASH_A, True), _hf(Backoff(tries=2, first=0)))
    hub.fail("commit", 403)
    with pytest.raises(HubAuthError) as refused:
        publish(Push(adapter_dir, ORG, NAME, card, HASH_B, True), _hf())

    out, err = capfd.readouterr()
    assert "retrying" in caplog.text and "Send: curl" in caplog.text, "the logs we check were really written"
    for text in (card, out, err, caplog.text, str(refused.value)):
        assert canary not in text
    assert all(canary.encode() not in data for data in hub.repos[REPO_ID].files.values())
    assert all(canary.encode() not in r.body for r in hub.requests)
    assert all(r.headers.get("authorization") == f"Bearer {canary}" for r in hub.requests), "auth was sent"


# ---- fetching a published adapter back (haha_parent, best-of-N reward models, the judge) ----------------


def test_a_local_push_is_fetched_back_at_its_revision(adapter_dir: Path, tmp_path: Path) -> None:
    hub = LocalHub(tmp_path / "hub")
    pushed = publish(Push(adapter_dir, ORG, NAME, _card(), HASH_A), hub)
    got = fetch_adapter(hub, REPO_ID, pushed.revision, tmp_path / "fetched")
    assert adapter_sha256(got) == adapter_sha256(adapter_dir)
    assert not (got / "checkpoint-5").exists() and not (got / "README.md").exists()


def test_a_local_hub_that_moved_on_is_not_fetched_at_the_old_revision(adapter_dir: Path, tmp_path: Path) -> None:
    hub = LocalHub(tmp_path / "hub")
    first = publish(Push(adapter_dir, ORG, NAME, _card(), HASH_A), hub)
    publish(Push(adapter_dir, ORG, NAME, _card({"lora_r": 4}), HASH_B), hub)  # another card: another revision
    with pytest.raises(PublishError, match=f"on the hub is at .*, not the {first.revision[:12]} its results"):
        fetch_adapter(hub, REPO_ID, first.revision, tmp_path / "fetched")
    assert not (tmp_path / "fetched").exists()
    with pytest.raises(PublishError, match="haha-lab/nobody is not on the hub"):
        fetch_adapter(hub, f"{ORG}/nobody", first.revision, tmp_path / "fetched")


def test_an_hf_push_is_fetched_back_through_the_real_client(adapter_dir: Path, hub: FakeHub, tmp_path: Path) -> None:
    pushed = publish(Push(adapter_dir, ORG, NAME, _card(), HASH_A), _hf())
    got = fetch_adapter(parse_hub("hf"), REPO_ID, pushed.revision, tmp_path / "fetched")
    assert adapter_sha256(got) == adapter_sha256(adapter_dir)
    assert (got / "tokenizer.json").read_bytes() == (adapter_dir / "tokenizer.json").read_bytes()
    assert hub.requests_to("resolve")


# ---- one protocol, two hubs --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["local", "hf"])
def test_both_hubs_keep_the_hub_protocol(adapter_dir: Path, hub: FakeHub, tmp_path: Path, kind: str) -> None:
    """Callers see only `Hub`: what a push returns is what `latest_revision` names and what `fetch` brings back,
    and a revision the repo never held is refused, on either hub."""
    target: Hub = LocalHub(tmp_path / "hub") if kind == "local" else _hf()
    assert target.latest_revision(REPO_ID) is None

    first = publish(Push(adapter_dir, ORG, NAME, "card A", HASH_A), target)
    assert target.latest_revision(REPO_ID) == first.revision
    (adapter_dir / "adapter_model.safetensors").write_bytes(b"retrained weights")
    second = publish(Push(adapter_dir, ORG, NAME, "card B", HASH_A), target)
    assert target.latest_revision(REPO_ID) == second.revision != first.revision

    fetched = tmp_path / "fetched"
    fetched.mkdir()
    target.fetch(REPO_ID, second.revision, fetched)
    assert {p.name for p in fetched.iterdir()} == PUBLISHED - {"README.md"}
    assert (fetched / "adapter_model.safetensors").read_bytes() == b"retrained weights"
    never = "0" * len(first.revision)
    with pytest.raises(PublishError, match=f"never pushed at {never[:12]}|has no commit {never[:12]}"):
        target.fetch(REPO_ID, never, tmp_path)
