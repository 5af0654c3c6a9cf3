"""What the fake servers on 127.0.0.1 share (the Hub's, GitHub's): a threaded server started by `with` and stopped
after it, and failures a test queues for an endpoint."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

# A repository id in a route, `owner/name`: the Hub's and GitHub's APIs both address repos this way.
REPO_ID = r"(?P<repo>[^/]+/[^/]+)"


class LocalServer:
    """Subclasses serve with `handler` and call `injected_failure(endpoint)` before answering a request."""

    def start_server(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._failures: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # A short poll interval: `shutdown` waits for the loop's next look, so tests end fast.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, endpoint: str, *statuses: int) -> None:
        """The next len(statuses) requests to `endpoint` get these statuses instead of being served."""
        with self._lock:
            self._failures.setdefault(endpoint, []).extend(statuses)

    def injected_failure(self, endpoint: str) -> int | None:
        """The status a test queued for this request to `endpoint`, if any (call it holding `self._lock`)."""
        queued = self._failures.get(endpoint)
        return queued.pop(0) if queued else None
