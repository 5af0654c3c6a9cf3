"""A fake Hugging Face Hub on 127.0.0.1 for running the real `huggingface_hub` client (1.17.0) in tests.

It speaks exactly the endpoints the client calls to publish a folder, found by reading its source:

    create_repo        POST /api/repos/create                         409 when the repo exists
    list_repo_commits  GET  /api/models/{org}/{name}/commits/{rev}    newest first
    upload_folder      POST /api/validate-yaml                        README.md front matter, twice per upload
                       GET  /api/models/{org}/{name}/tree/{rev}       only with delete_patterns
                       POST /api/models/{org}/{name}/preupload/{rev}  we answer "regular" for every file, so
                       POST /api/models/{org}/{name}/commit/{rev}     contents arrive inline (NDJSON, base64)
                                                                      and the LFS/Xet upload flow is never used

and the ones it calls to download a model's description files (`snapshot_download`):

    repo_info          GET  /api/models/{org}/{name}/revision/{rev}   sha and file list
    hf_hub_download    HEAD /{org}/{name}/resolve/{rev}/{path}         commit, etag and size headers
                       GET  /{org}/{name}/resolve/{rev}/{path}         the bytes

and a dataset repo's, the same under /api/datasets/ and /datasets/ (`snapshot_download(repo_type="dataset")`).

Every request is recorded (headers included), and `fail(endpoint, status, ...)` makes the next
requests to an endpoint answer those statuses, to test retries and refused credentials.
`serve_model(repo, files)` publishes a model repo for download, `serve_dataset(repo, files)` a dataset
repo (returning its commit id, to pin); `gate(repo)` makes it answer as a gated repo does to a client
without access.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.support.local_http import REPO_ID, LocalServer

REV = r"(?P<rev>[^/]+)"
ROUTES = [
    ("POST", "create", re.compile(r"^/api/repos/create$")),
    ("POST", "validate-yaml", re.compile(r"^/api/validate-yaml$")),
    ("GET", "commits", re.compile(rf"^/api/models/{REPO_ID}/commits/{REV}$")),
    ("GET", "tree", re.compile(rf"^/api/models/{REPO_ID}/tree/{REV}$")),
    ("POST", "preupload", re.compile(rf"^/api/models/{REPO_ID}/preupload/{REV}$")),
    ("POST", "commit", re.compile(rf"^/api/models/{REPO_ID}/commit/{REV}$")),
    ("GET", "revision", re.compile(rf"^/api/models/{REPO_ID}/revision/{REV}$")),
    ("GET", "dataset-revision", re.compile(rf"^/api/datasets/{REPO_ID}/revision/{REV}$")),
]
DATASET = "datasets/"  # dataset repos are kept under this prefix, as their download URLs name them
REPO_NOT_FOUND = {"error": "Repository not found"}
RESOLVE = re.compile(rf"^/(?P<kind>datasets/)?{REPO_ID}/resolve/{REV}/(?P<path>.+)$")


@dataclass
class Commit:
    id: str
    title: str
    message: str
    date: str


@dataclass
class Repo:
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[Commit] = field(default_factory=list)  # newest first, like the Hub


@dataclass(frozen=True)
class Request:
    endpoint: str
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


class FakeHub(LocalServer):
    """Start with `with FakeHub() as hub:`; point the client at `hub.url`."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[Request] = []
        self.gated: set[str] = set()
        self.start_server(_handler(self))

    def serve_model(self, repo_id: str, files: dict[str, bytes]) -> None:
        """A public model repo holding `files`, for the download endpoints."""
        repo = Repo(private=False)
        self.repos[repo_id] = repo
        self._add_commit(repo, "upload model", "", files)

    def serve_dataset(self, repo_id: str, files: dict[str, bytes]) -> str:
        """A public dataset repo holding `files`; its commit id, which a config pins as `revision`."""
        repo = Repo(private=False)
        self.repos[DATASET + repo_id] = repo
        return self._add_commit(repo, "upload dataset", "", files).id

    def gate(self, repo_id: str, files: dict[str, bytes]) -> None:
        """A gated repo: its file list is public, its files answer 401 GatedRepo without an accepted licence."""
        self.serve_model(repo_id, files)
        self.gated.add(repo_id)

    def resolve(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes] | None:
        """A file download (HEAD for its metadata, GET for its bytes); None when `path` is not a download."""
        match = RESOLVE.match(path)
        if match is None:
            return None
        repo_id, name = (match["kind"] or "") + match["repo"], match["path"]
        with self._lock:
            self.requests.append(Request("resolve", method, path, headers, b""))
            if repo_id in self.gated:
                return 401, {"X-Error-Code": "GatedRepo", "X-Error-Message": "Access to model is restricted."}, b""
            repo = self.repos.get(repo_id)
            if repo is None or name not in repo.files:
                return 404, {"X-Error-Code": "EntryNotFound" if repo else "RepoNotFound"}, b""
            data = repo.files[name]
        return 200, {"X-Repo-Commit": repo.commits[0].id, "ETag": f'"{hashlib.sha1(data).hexdigest()}"',
                     "Content-Length": str(len(data)), "Content-Type": "application/octet-stream"}, data

    def requests_to(self, endpoint: str) -> list[Request]:
        return [r for r in self.requests if r.endpoint == endpoint]

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        """Route one request; returns (status, JSON body)."""
        route = next(((name, m) for verb, name, pattern in ROUTES if verb == method and (m := pattern.match(path))),
                     None)
        with self._lock:
            self.requests.append(Request(route[0] if route else "unknown", method, path, headers, body))
            if route is None:
                return 404, {"error": f"the fake hub does not serve {method} {path}"}
            endpoint, match = route
            if (status := self.injected_failure(endpoint)) is not None:
                return status, {"error": f"injected failure on {endpoint}"}
            params = match.groupdict()
            if endpoint == "dataset-revision":
                params["repo"] = DATASET + params["repo"]
            if "repo" in params and endpoint != "create" and params["repo"] not in self.repos:
                return 404, REPO_NOT_FOUND
            return getattr(self, "_" + endpoint.replace("-", "_"))(body=body, **params)

    def _create(self, body: bytes) -> tuple[int, Any]:
        payload = json.loads(body)
        repo_id = f"{payload['organization']}/{payload['name']}"
        if repo_id in self.repos:
            return 409, {"error": "You already created this model repo", "url": f"{self.url}/{repo_id}"}
        repo = Repo(private=payload.get("visibility") == "private")
        self.repos[repo_id] = repo
        self._add_commit(repo, "initial commit", "", {".gitattributes": b"*.safetensors filter=lfs diff=lfs\n"})
        return 200, {"url": f"{self.url}/{repo_id}", "name": repo_id}

    def _validate_yaml(self, body: bytes) -> tuple[int, Any]:
        content = json.loads(body)["content"]
        if content.startswith("---\n"):
            try:
                meta = yaml.safe_load(content[4:content.index("\n---", 3)])
            except (ValueError, yaml.YAMLError) as err:
                return 400, {"errors": [{"message": f"front matter: {err}"}]}
            if not isinstance(meta, dict):
                return 400, {"errors": [{"message": "front matter is not a mapping"}]}
        return 200, {"errors": [], "warnings": []}

    def _commits(self, repo: str, rev: str, body: bytes) -> tuple[int, Any]:
        commits = self.repos[repo].commits
        return 200, [
            {"id": c.id, "title": c.title, "message": c.message, "date": c.date, "authors": [{"user": "haha-bot"}]}
            for c in commits
        ]

    def _tree(self, repo: str, rev: str, body: bytes) -> tuple[int, Any]:
        files = self.repos[repo].files
        return 200, [
            {"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
            for path, data in sorted(files.items())
        ]

    def _preupload(self, repo: str, rev: str, body: bytes) -> tuple[int, Any]:
        files = json.loads(body)["files"]
        return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}

    def _commit(self, repo: str, rev: str, body: bytes) -> tuple[int, Any]:
        target = self.repos[repo]
        files = dict(target.files)
        header: dict[str, str] = {}
        for line in body.decode().splitlines():
            item = json.loads(line)
            value = item["value"]
            if item["key"] == "header":
                header = value
            elif item["key"] == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] == "deletedFile":
                files.pop(value["path"])
            else:
                return 422, {"error": f"the fake hub does not support {item['key']} operations"}
        commit = self._add_commit(target, header["summary"], header.get("description", ""), files)
        return 200, {"commitUrl": f"{self.url}/{repo}/commit/{commit.id}", "commitOid": commit.id, "success": True}

    def _dataset_revision(self, repo: str, rev: str, body: bytes) -> tuple[int, Any]:
        return self._revision(repo, rev, body)

    def _revision(self, repo: str, rev: str, body: bytes) -> tuple[int, Any]:
        target = self.repos[repo]
        repo = repo.removeprefix(DATASET)
        return 200, {"id": repo, "modelId": repo, "sha": target.commits[0].id, "private": target.private,
                     "siblings": [{"rfilename": name} for name in sorted(target.files)]}

    def _add_commit(self, repo: Repo, title: str, message: str, files: dict[str, bytes]) -> Commit:
        seed = f"{len(repo.commits)}\0{title}\0{sorted(files.items())}".encode()
        date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        commit = Commit(hashlib.sha1(seed).hexdigest(), title, message, date)
        repo.files = files
        repo.commits.insert(0, commit)
        return commit


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            path = urlsplit(self.path).path
            if (download := hub.resolve(self.command, path, headers)) is not None:
                self._send_file(*download)
                return
            status, payload = hub.handle(self.command, path, headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            if payload == REPO_NOT_FOUND:
                self.send_header("X-Error-Code", "RepoNotFound")  # what the client turns into RepositoryNotFoundError
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send_file(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", "0")
            self.end_headers()
            if self.command == "GET" and status == 200:
                self.wfile.write(data)

        do_GET = do_POST = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests assert on captured output."""

    return Handler
