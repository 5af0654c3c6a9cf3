"""The GitHub REST API, as much of it as the training workflow's commit job uses to answer on a pull request.

Two resources, four requests:

    GET   /repos/{repo}/commits/{sha}/pulls          the pull requests a commit belongs to (the merged one is ours)
    GET   /repos/{repo}/issues/{number}/comments     the PR's comments, to find the one an earlier run left
    POST  /repos/{repo}/issues/{number}/comments     the first run's comment
    PATCH /repos/{repo}/issues/comments/{id}         later runs update it

Plain urllib against `GITHUB_API_URL` (Actions sets it; GitHub Enterprise has its own), the job's token in the
Authorization header only (never in a URL or a message). A 5xx, a 429 or a dropped connection is retried with the
project's backoff; 401, 403 and 404 are not (a token without `pull-requests: write` stays one). Talks to the network.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from pipeline.core.errors import HahaError
from pipeline.core.retry import Backoff
from pipeline.core.secrets import scrub

API_URL = "https://api.github.com"
REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\Z")
NEXT_PAGE = re.compile(r'<([^>]+)>;\s*rel="next"')
RETRIED = (429, 500, 502, 503, 504)
TIMEOUT_S = 30
BOT = "github-actions[bot]"  # who a job's GITHUB_TOKEN comments as


class GitHubError(HahaError):
    """GitHub refused or never answered; the message names the request, never the token."""


@dataclass(frozen=True)
class PullRequest:
    number: int
    merged: bool
    base: str  # the branch it targets
    url: str


@dataclass(frozen=True)
class Comment:
    id: int
    author: str
    body: str


@dataclass
class GitHub:
    """A client for one repository (`owner/name`) with one token."""

    repository: str
    token: str
    api_url: str = API_URL
    backoff: Backoff = field(default_factory=Backoff)
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if not REPOSITORY.match(self.repository):
            raise GitHubError(f"{self.repository!r} is not a repository (owner/name)")
        if not self.token:
            raise GitHubError("no token: the commit job passes its GITHUB_TOKEN as GITHUB_TOKEN")
        self.api_url = self.api_url.rstrip("/")

    def pulls_of_commit(self, sha: str) -> list[PullRequest]:
        """The pull requests `sha` belongs to: merged into the branch, or open with it."""
        found = self._request("GET", f"/repos/{self.repository}/commits/{quote(sha, safe='')}/pulls?per_page=100")[0]
        return [PullRequest(int(item["number"]), bool(item.get("merged_at")), str(item["base"]["ref"]),
                            str(item.get("html_url", ""))) for item in found]

    def comments(self, number: int) -> list[Comment]:
        """Every comment on pull request `number`, page after page."""
        comments: list[Comment] = []
        path: str | None = f"/repos/{self.repository}/issues/{number}/comments?per_page=100"
        while path:
            page, path = self._request("GET", path)
            comments += [Comment(int(item["id"]), str((item.get("user") or {}).get("login", "")),
                                 str(item.get("body") or "")) for item in page]
        return comments

    def create_comment(self, number: int, body: str) -> int:
        created = self._request("POST", f"/repos/{self.repository}/issues/{number}/comments", {"body": body})[0]
        return int(created["id"])

    def update_comment(self, comment_id: int, body: str) -> None:
        self._request("PATCH", f"/repos/{self.repository}/issues/comments/{comment_id}", {"body": body})

    def _request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> tuple[Any, str | None]:
        """The decoded answer and the path of its next page (None on the last); retried as the module says."""
        url = path if path.startswith(self.api_url) else self.api_url + path
        what = f"{method} {url.removeprefix(self.api_url)}"
        request = urllib.request.Request(url, method=method, data=None if payload is None else json.dumps(
            payload).encode(), headers={
            "Accept": "application/vnd.github+json", "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "haha-pipeline",
            **({"Content-Type": "application/json"} if payload is not None else {})})
        for attempt in range(1, self.backoff.tries + 1):
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
                    text = answer.read().decode()
                    following = NEXT_PAGE.search(answer.headers.get("Link") or "")
                next_page = following.group(1) if following else None
                if next_page is not None and not next_page.startswith(f"{self.api_url}/"):
                    raise GitHubError(f"{what}: the next page is at {next_page}, not on {self.api_url}: the token is "
                                      "sent nowhere else")
                return (json.loads(text) if text else None), next_page
            except urllib.error.HTTPError as exc:
                detail = scrub(exc.read().decode(errors="replace")[:300]).replace(self.token, "***")
                if exc.code not in RETRIED or attempt == self.backoff.tries:
                    raise GitHubError(f"{what}: GitHub answered {exc.code}{_advice(exc.code)}: {detail}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == self.backoff.tries:
                    raise GitHubError(f"{what}: no answer from {self.api_url} after {attempt} tries: "
                                      f"{getattr(exc, 'reason', exc)}") from None
            except ValueError as exc:
                raise GitHubError(f"{what}: the answer is not JSON: {exc}") from None
            self.sleep(self.backoff.delay(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")


def _advice(status: int) -> str:
    if status in (401, 403):
        return " (the job's token needs `pull-requests: write`)"
    if status == 404:
        return " (no such repository, commit or pull request for this token)"
    return ""
