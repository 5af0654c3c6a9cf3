"""The rating page's server: the standard library's threading HTTP server on 127.0.0.1, one rater per server.
Only `haha rate` (cli/ratings.py) starts it.

Three routes: `GET /` (the page, static: every text reaches it as JSON and is set as text, never as markup),
`GET /api/next` and `POST /api/vote`. A page on another site could still reach a server on 127.0.0.1, so the
server answers only requests addressed to itself (the Host header, and the Origin header when a browser sends
one), and a vote must be sent as `application/json`, which a cross-site form cannot send without a preflight
this server never grants.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.core.errors import UsageError
from pipeline.core.problems import errors
from pipeline.data.thumbnails import RATING_PX, Thumbnail, make_thumbnail
from pipeline.formats.results import ResultsDoc
from pipeline.ratings.cells import cells_of
from pipeline.ratings.files import read_ratings_file
from pipeline.ratings.lines import Rating, ratings_file
from pipeline.ratings.session import Item, Session, items_of, rater_seed, shuffled
from pipeline.ratings.store import RatingsWriter

HOST = "127.0.0.1"
PAGE = "rate.html"
MAX_BODY = 4096  # a vote is an id and a number


def _item_json(item: Item | None, pictures: Mapping[str, Thumbnail]) -> dict[str, Any] | None:
    """What the page may know of an item: no config, setting or seed (the rating is blind); the picture a caption
    was written for, or the word saying why it cannot be shown."""
    if item is None:
        return None
    shown = pictures.get(item.id)
    return {"id": item.id, "prompt": item.prompt, "text": item.text, "flag": item.flag,
            "picture": shown.src if shown else None,
            "noPicture": f"picture {shown.refused}: {shown.why}" if shown and shown.refused else None}


def pictures_of(items: Sequence[Item], data_dir: Path) -> dict[str, Thumbnail]:
    """Each picture item's picture, checked against train/data and the recorded sha256 once, when the page opens."""
    made: dict[tuple[str, str | None], Thumbnail] = {}
    found = {}
    for item in items:
        if (picture := item.picture) is not None:
            if picture not in made:
                made[picture] = make_thumbnail(picture[0], picture[1], data_dir, RATING_PX)
            found[item.id] = made[picture]
    return found


def state_json(session: Session, pictures: Mapping[str, Thumbnail], refused: str | None = None) -> dict[str, Any]:
    progress = session.progress()
    return {"rater": session.rater, "item": _item_json(session.next_item(), pictures), "refused": refused,
            "progress": {"rated": progress.rated, "skipped": progress.skipped, "total": progress.total}}


def parse_vote(body: bytes) -> tuple[str, Rating | None] | str:
    """The item id and the rating (null: skip) from a vote's body, or why it is not one."""
    try:
        vote = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "the vote is not JSON"
    if not isinstance(vote, dict) or not isinstance(vote.get("item"), str):
        return "a vote names its item"
    rating = vote.get("rating")
    if rating is None:
        return vote["item"], None
    if isinstance(rating, bool) or rating not in (1, 2, 3):
        return "a rating is 1 (unfunny), 2 (somewhat funny), 3 (funny) or null (skip)"
    return vote["item"], Rating(rating)


def make_server(session: Session, port: int, pictures: Mapping[str, Thumbnail]) -> ThreadingHTTPServer:
    """The server, bound (port 0: any free one); the caller runs `serve_forever` and closes it."""
    page = resources.files("pipeline.ratings").joinpath("templates", PAGE).read_bytes()

    class Handler(BaseHTTPRequestHandler):
        server_version = "haha-rate"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the terminal shows the page's address and progress, not every request."""

        def _addressed_to_us(self) -> bool:
            port = self.server.server_address[1]
            own = {f"{HOST}:{port}", f"localhost:{port}"}
            origin = self.headers.get("Origin")
            return self.headers.get("Host") in own and (origin is None or origin in {f"http://{o}" for o in own})

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; "
                                                        "style-src 'unsafe-inline'; connect-src 'self'; "
                                                        "img-src data:")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
            self._send(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json")

        def do_GET(self) -> None:
            if not self._addressed_to_us():
                self._json(HTTPStatus.FORBIDDEN, {"error": "this server answers only its own page"})
            elif self.path == "/":
                self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
            elif self.path == "/api/next":
                self._json(HTTPStatus.OK, state_json(session, pictures))
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": "no such page"})

        def do_POST(self) -> None:
            if not self._addressed_to_us() or self.path != "/api/vote":
                self._json(HTTPStatus.FORBIDDEN, {"error": "this server takes votes from its own page only"})
                return
            if self.headers.get_content_type() != "application/json":
                self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "a vote is sent as application/json"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                self._json(HTTPStatus.BAD_REQUEST, {"error": "a vote is a small JSON object"})
                return
            vote = parse_vote(self.rfile.read(length))
            if isinstance(vote, str):
                self._json(HTTPStatus.BAD_REQUEST, {"error": vote})
                return
            refused = session.vote(*vote)
            status = HTTPStatus.OK if refused is None else HTTPStatus.CONFLICT
            self._json(status, state_json(session, pictures, None if refused is None else str(refused)))

    return ThreadingHTTPServer((HOST, port), Handler)


@dataclass
class RatingServer:
    """A running rater's page: its session, the file its votes go to, and the bound server."""

    session: Session
    writer: RatingsWriter
    server: ThreadingHTTPServer

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.server_close()
        self.writer.close()


def open_rating(rater: str, docs: Mapping[str, ResultsDoc], folder: Path, seed: int | None,
                port: int, data_dir: Path) -> RatingServer:
    """The rater's session over the named results, continuing their file; a file with broken lines is refused
    until they are fixed (appending after them would hide the damage)."""
    path = ratings_file(folder, rater)
    writer = RatingsWriter(path)
    try:
        earlier = read_ratings_file(path, str(path))
        if broken := errors(earlier.problems):
            raise UsageError("fix these lines first:\n" + "\n".join(str(problem) for problem in broken))
        items = shuffled(items_of(cell for name, doc in docs.items() for cell in cells_of(name, doc)),
                         rater_seed(rater) if seed is None else seed)
        session = Session(rater, items, earlier.lines, writer.append, lambda: datetime.now(UTC))
        try:
            server = make_server(session, port, pictures_of(items, data_dir))
        except OSError as exc:
            raise UsageError(f"cannot listen on {HOST}:{port} ({exc.strerror}); --port 0 picks a free port") from None
        return RatingServer(session, writer, server)
    except BaseException:
        writer.close()
        raise
