"""A fake GitHub REST API on 127.0.0.1 for running haha's own client (pipeline/gitops/github.py) in tests.

It speaks the two resources the commit job's comment uses, as GitHub documents them:

    GET   /repos/{owner}/{name}/commits/{sha}/pulls          the pull requests a commit belongs to
    GET   /repos/{owner}/{name}/issues/{number}/comments     paginated (`per_page`, `page`, a `Link: rel="next"`)
    POST  /repos/{owner}/{name}/issues/{number}/comments     201 with the new comment
    PATCH /repos/{owner}/{name}/issues/comments/{id}         only its author may edit it (403 otherwise)

Every request needs `Authorization: Bearer <token>` (401 otherwise); comments made with the token are the bot's.
Every request is recorded, and `fail(endpoint, status, ...)` makes the next requests to an endpoint answer those
statuses, to test retries and refusals.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.local_http import REPO_ID, LocalServer

ROUTES = [
    ("GET", "pulls", re.compile(rf"^/repos/{REPO_ID}/commits/(?P<sha>[^/]+)/pulls$")),
    ("GET", "comments", re.compile(rf"^/repos/{REPO_ID}/issues/(?P<number>\d+)/comments$")),
    ("POST", "comment", re.compile(rf"^/repos/{REPO_ID}/issues/(?P<number>\d+)/comments$")),
    ("PATCH", "edit", re.compile(rf"^/repos/{REPO_ID}/issues/comments/(?P<id>\d+)$")),
]
BOT = "github-actions[bot]"


@dataclass
class Request:
    endpoint: str
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class Comment:
    id: int
    number: int
    author: str
    body: str


@dataclass
class FakeGitHub(LocalServer):
    """`with FakeGitHub(token) as github:`; point the client at `github.url`."""

    token: str
    repository: str = "haha-lab/haha"
    page_size: int = 2  # small, so a test's few comments already span pages
    pulls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by commit sha
    comments: list[Comment] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.start_server(_handler(self))

    def merged(self, sha: str, number: int, base: str = "main") -> None:
        """Commit `sha` belongs to pull request `number`, merged into `base`."""
        self.pulls.setdefault(sha, []).append({"number": number, "state": "closed", "merged_at": "2026-12-05T10:00:00Z",
                                               "base": {"ref": base},
                                               "html_url": f"https://github.com/{self.repository}/pull/{number}"})

    def add_comment(self, number: int, author: str, body: str) -> Comment:
        comment = Comment(len(self.comments) + 1000, number, author, body)
        self.comments.append(comment)
        return comment

    def on(self, number: int) -> list[Comment]:
        return [comment for comment in self.comments if comment.number == number]

    def answer(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(target)
        for verb, endpoint, pattern in ROUTES:
            match = pattern.match(parts.path)
            if match is None or verb != method:
                continue
            body = json.loads(raw) if raw else None
            with self._lock:
                self.requests.append(Request(endpoint, method, target, headers, body))
                if (status := self.injected_failure(endpoint)) is not None:
                    return status, {}, {"message": "failure injected by the test"}
                if headers.get("authorization") != f"Bearer {self.token}":
                    return 401, {}, {"message": "Bad credentials"}
                if match["repo"] != self.repository:
                    return 404, {}, {"message": "Not Found"}
                return self._serve(endpoint, match, parse_qs(parts.query), body)
        return 404, {}, {"message": f"no route for {method} {parts.path}"}

    def _serve(self, endpoint: str, match: re.Match[str], query: dict[str, list[str]],
               body: dict[str, Any] | None) -> tuple[int, dict[str, str], Any]:
        if endpoint == "pulls":
            return 200, {}, self.pulls.get(match["sha"], [])
        if endpoint == "comments":
            per_page = min(int(query.get("per_page", ["30"])[0]), self.page_size)
            page = int(query.get("page", ["1"])[0])
            found = self.on(int(match["number"]))
            shown = found[(page - 1) * per_page: page * per_page]
            links = {}
            if page * per_page < len(found):
                links["Link"] = (f'<{self.url}/repos/{self.repository}/issues/{match["number"]}/comments?'
                                 f'per_page={per_page}&page={page + 1}>; rel="next"')
            return 200, links, [{"id": c.id, "user": {"login": c.author}, "body": c.body} for c in shown]
        assert body is not None and isinstance(body.get("body"), str)
        if endpoint == "comment":
            made = self.add_comment(int(match["number"]), BOT, body["body"])
            return 201, {}, {"id": made.id, "user": {"login": BOT}, "body": made.body}
        [comment] = [c for c in self.comments if c.id == int(match["id"])]
        if comment.author != BOT:
            return 403, {}, {"message": "Resource not accessible by integration"}
        comment.body = body["body"]
        return 200, {}, {"id": comment.id, "user": {"login": BOT}, "body": comment.body}


def _handler(github: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _respond(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, payload = github.answer(self.command, self.path,
                                                     {k.lower(): v for k, v in self.headers.items()}, raw)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _respond

        def log_message(self, *args: object) -> None:
            pass

    return Handler
