"""index.html in a real browser: headless Chromium opens it from disk.

No Python browser driver: Chromium's `--dump-dom` gives the DOM after the page's script ran,
`--screenshot` gives a picture to look at (saved under $HAHA_ARTIFACTS, else the test's tmp dir),
and the DevTools protocol over `--remote-debugging-pipe` (plain pipes, no websocket) clicks.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from sample_results import completions, results_doc, write_doc

from pipeline.results.rebuild import write_index

pytestmark = pytest.mark.slow

VOID = {"br", "col", "input", "meta", "img", "hr", "link"}
PROMPT = "My cat knocked over my coffee."


def chromium_binary() -> str:
    """Debian's /usr/bin/chromium (apt-get install -y chromium), else a Chromium or Chrome on PATH."""
    candidates = [os.environ.get("HAHA_CHROMIUM"), "/usr/bin/chromium",
                  *(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome"))]
    found = next((c for c in candidates if c and Path(c).is_file()), None)
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("Chromium is missing in CI: `apt-get install -y chromium` must run before the tests")
    pytest.skip("no Chromium here (/usr/bin/chromium missing); install it with `apt-get install -y chromium`")


class Node:
    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag, self.attrs, self.children = tag, attrs, []  # type: list[Node | str]

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find_all(self, tag: str, **attrs: str) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag and all(child.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                    found.append(child)
                found += child.find_all(tag, **attrs)
        return found


class Tree(HTMLParser):
    """Just enough of an HTML tree builder to find elements by tag and attribute in a dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {key: value or "" for key, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if self.stack[-1].tag != "script":
            self.stack[-1].children.append(data)


def chromium_flags(profile: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
            f"--user-data-dir={profile}"]


def run_chromium(args: list[str], profile: Path) -> str:
    command = [chromium_binary(), *chromium_flags(profile), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def index_html(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    folder.mkdir()
    write_doc(folder, "haha-a", results_doc("haha-a", learning_rate=0.0002, finished="2025-03-01T10:00:00+00:00"))
    write_doc(folder, "haha-b", results_doc("haha-b", repeat_cold=True, finished="2025-03-02T10:00:00+00:00"))
    write_doc(folder, "haha-c", results_doc("haha-c", meta=False))
    (folder / "haha-broken.json").write_text("{")
    write_index(folder)
    return folder / "index.html"


def test_two_configs_side_by_side_with_their_difference(index_html: Path, tmp_path: Path) -> None:
    dom = run_chromium(["--dump-dom", f"{index_html.as_uri()}?select=haha-a,haha-b"], tmp_path / "profile")
    tree = Tree()
    tree.feed(dom)
    page = tree.root

    articles = page.find_all("article", data_prompt=PROMPT)
    assert len(articles) == 1, "the prompt's comparison table is missing"
    header = [th.text() for th in articles[0].find_all("th")]
    assert header == ["setting", "seed", "haha-a", "haha-b"]
    for name, repeat in (("haha-a", False), ("haha-b", True)):
        cells = [td.find_all("span", **{"class": "text"})[0].text()
                 for td in articles[0].find_all("td", data_config=name)]
        assert cells == [*completions(name, 1, 0, repeat), *completions(name, 1, 1, repeat)]
    badges = [td.find_all("span", **{"class": "badge"})[0].text()
              for td in articles[0].find_all("td", data_config="haha-b", **{"class": "completion rep"})]
    assert badges == ["same as seed 2", "same as seed 1"]
    assert not page.find_all("td", data_config="haha-c")

    rows = page.find_all("tr", data_key="learning_rate")
    assert len(rows) == 1 and rows[0].attrs["class"] == "differs"
    assert [td.text() for td in rows[0].find_all("td")] == ["learning_rate", "0.0002", "9.5e-05"]
    assert not page.find_all("tr", data_key="sequence_len"), "equal keys are hidden by default"
    assert "haha-broken.json" in page.find_all("div", id="broken")[0].text()

    artifacts = Path(os.environ.get("HAHA_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "index.png"
    run_chromium([f"--screenshot={shot}", "--window-size=1400,1000", f"{index_html.as_uri()}#select=haha-a,haha-b"],
                 tmp_path / "profile")
    assert shot.stat().st_size > 10_000


class DevTools:
    """Chromium over `--remote-debugging-pipe`: commands go in on its fd 3, replies come out on fd 4, NUL-separated.

    Uncaught page exceptions are collected, so a test can assert the page's script never failed.
    """

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.exceptions: list[str] = []
        self.next_id = 0
        self.buffer = b""

    def __enter__(self) -> DevTools:
        to_chrome, from_chrome = os.pipe(), os.pipe()

        def wire_fds() -> None:  # in the child: its fd 3 reads our commands, its fd 4 writes replies
            read_end = fcntl.fcntl(to_chrome[0], fcntl.F_DUPFD, 5)
            write_end = fcntl.fcntl(from_chrome[1], fcntl.F_DUPFD, 5)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        command = [chromium_binary(), *chromium_flags(self.profile), "--remote-debugging-pipe",
                   "--window-size=1400,1000", "about:blank"]
        self.process = subprocess.Popen(command, pass_fds=(3, 4), preexec_fn=wire_fds,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome[0])
        os.close(from_chrome[1])
        self.writer, self.reader = os.fdopen(to_chrome[1], "wb", 0), os.fdopen(from_chrome[0], "rb", 0)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.writer.close()
        self.reader.close()
        self.process.kill()
        self.process.wait(timeout=30)

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params} | ({"sessionId": session} if session else {})
        self.writer.write(json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                chunk = self.reader.read(1 << 16)
                assert chunk, "Chromium closed the DevTools pipe"
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("method") == "Runtime.exceptionThrown":
                self.exceptions.append(reply["params"]["exceptionDetails"]["exception"]["description"])
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply["error"]
                return reply["result"]

    def open(self, url: str) -> str:
        """A new tab on `url`, once its script has run; returns the session id for `evaluate`."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Runtime.enable", session)
        self.call("Page.navigate", session, url=url)
        deadline = time.monotonic() + 30
        while self.evaluate(session, "document.readyState") != "complete":
            assert time.monotonic() < deadline, f"{url} did not finish loading"
            time.sleep(0.05)
        return session

    def evaluate(self, session: str, expression: str) -> Any:
        result = self.call("Runtime.evaluate", session, expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")


def test_clicking_configs_filtering_and_hiding_settings(index_html: Path, tmp_path: Path) -> None:
    with DevTools(tmp_path / "profile") as browser:
        page = browser.open(index_html.as_uri())

        def run(expression: str) -> Any:
            return browser.evaluate(page, expression)

        names = "[...document.querySelector('article.prompt').querySelectorAll('thead th')].map(t => t.textContent)"
        # The two newest are preselected; haha-c (old format, never committed) has no known time, so it is not.
        assert run("location.hash") == "#select=haha-b,haha-a"
        run("document.querySelector('#picker input[data-name=haha-a]').click()")  # the checkbox itself
        assert run("location.hash") == "#select=haha-b"
        run("document.querySelector('#picker tr[data-name=haha-a] td.name').click()")  # anywhere on the row
        assert run("location.hash") == "#select=haha-b,haha-a"
        assert run(names) == ["setting", "seed", "haha-b", "haha-a"]
        assert run("[...document.querySelectorAll('tr.differs')].map(r => r.dataset.key)") == ["learning_rate"]

        run("const f = document.getElementById('filter'); f.value = 'COFFEE'; f.dispatchEvent(new Event('input'))")
        time.sleep(0.4)  # the filter waits for typing to pause
        assert run("[...document.querySelectorAll('article.prompt')].map(a => a.dataset.prompt)") == [PROMPT]
        assert run("location.hash") == "#select=haha-b,haha-a&q=COFFEE"

        run("document.querySelector('.chip').click()")  # hide t=0.1
        assert run("[...document.querySelectorAll('td.setting')].map(t => t.textContent)") == ["t=0.9 top_p=0.95"]
        run("document.getElementById('show-same').click()")
        assert run("document.querySelectorAll('table.params tr[data-key]').length") == 15
    assert browser.exceptions == []


@pytest.fixture
def twenty_configs(tmp_path: Path) -> Path:
    """20 configs written by the eval's own writers: one whose completions are all empty, one with a completion of
    8,872 characters, and training loss curves (recorded by the evaluate stage from the run)."""
    from pipeline.evaluate.quality import quality
    from pipeline.formats.results import LossCurve, ResultsDoc

    folder = tmp_path / "results"
    folder.mkdir()
    for number in range(1, 21):
        name = f"haha-many-{number:03d}"
        doc = ResultsDoc.model_validate(results_doc(name, learning_rate=0.0001 * number,
                                                    finished=f"2025-04-{number:02d}T10:00:00+00:00"))
        if number == 19:
            for prompt in doc.results:
                for setting in prompt.settingsResults:
                    setting.completions = ["", "", ""]
        if number == 20:
            doc.results[0].settingsResults[0].completions[0] = "Why " * 2218  # 8,872 characters
        assert doc.meta is not None
        doc.meta.quality = quality(doc.results)
        doc.meta.training_loss = LossCurve(steps=list(range(1, 25)), loss=[4.0 - step / (10 + number)
                                                                           for step in range(1, 25)])
        write_doc(folder, name, json.loads(doc.model_dump_json(exclude_unset=True)))
    write_index(folder)
    return folder / "index.html"


def test_twenty_configs_chart_each_chosen_one_and_collapse_long_text(twenty_configs: Path, tmp_path: Path) -> None:
    with DevTools(tmp_path / "profile") as browser:
        page = browser.open(f"{twenty_configs.as_uri()}#select=haha-many-019,haha-many-020")

        def run(expression: str) -> Any:
            return browser.evaluate(page, expression)

        assert run("[...document.querySelectorAll('.chart')].map(c => c.dataset.config)") == [
            "haha-many-019", "haha-many-020"]
        assert run("document.querySelectorAll('.chart svg').length") == 4  # loss and quality for each
        assert run("document.querySelectorAll('.chart svg polyline[data-series=loss]').length") == 2
        empty = "[...document.querySelectorAll('.chart[data-config=haha-many-019] polyline[data-series=empty]')]"
        assert run(f"{empty}.length") == 1
        # The all-empty config's "empty" line sits at the top of its 0..1 scale at every temperature.
        assert run(f"new Set({empty}[0].getAttribute('points').split(' ').map(p => p.split(',')[1])).size") == 1
        assert run("[...document.querySelectorAll('td.completion.empty .text')].every(t => t.textContent === "
                   "'(empty)')")
        assert run("document.querySelectorAll('td.completion.empty.rep').length") == 0  # empties are not repeats
        long_cell = "document.querySelector('td.completion.long')"
        assert run(f"{long_cell}.getBoundingClientRect().height") < 250
        run(f"{long_cell}.querySelector('button.more').click()")
        assert run(f"{long_cell}.getBoundingClientRect().height") > 1000
        assert run(f"{long_cell}.querySelector('button.more').textContent") == "show less"
    assert browser.exceptions == []
    artifacts = Path(os.environ.get("HAHA_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "index-charts.png"
    run_chromium([f"--screenshot={shot}", "--window-size=1400,1400",
                  f"{twenty_configs.as_uri()}#select=haha-many-019,haha-many-020"], tmp_path / "profile-shot")
    assert shot.stat().st_size > 10_000


def test_the_first_view_is_the_newest_config_beside_the_previous_of_its_family(twenty_configs: Path,
                                                                              tmp_path: Path) -> None:
    """Opened without a selection, the page answers "what did my change do": haha-many-020 beside haha-many-019,
    not the two newest of whatever families (an older haha-many config finished last here)."""
    folder = twenty_configs.parent
    older = json.loads((folder / "haha-many-005.json").read_text())
    older["meta"]["finished"] = "2025-05-30T10:00:00+00:00"  # retrained last: still not the previous of 020
    write_doc(folder, "haha-many-005", older)
    newest_doc = json.loads((folder / "haha-many-020.json").read_text())
    newest_doc["meta"]["finished"] = "2025-06-01T10:00:00+00:00"
    write_doc(folder, "haha-many-020", newest_doc)
    write_index(folder)
    with DevTools(tmp_path / "profile") as browser:
        page = browser.open(twenty_configs.as_uri())
        assert browser.evaluate(page, "location.hash") == "#select=haha-many-020,haha-many-019"
    assert browser.exceptions == []
