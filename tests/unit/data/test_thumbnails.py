"""Pictures in the index and `haha compare`: a checked thumbnail beside each prompt that showed one, refused for a
path outside train/data or a file whose sha256 is not the one the results recorded; compare names the picture."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from pipeline.cli.main import app
from pipeline.data.thumbnails import PNG_DATA_URI, THUMBNAIL_PX, NoThumbnail, make_thumbnail
from pipeline.results.page import index_payload, render_html
from pipeline.results.scan import scan_results
from tests.support.sample_results import CAPTION, picture_doc, results_doc, write_doc

PICTURES = ("cartoons/01.png", "cartoons/02.png")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repo with two pictures in train/data and two caption configs' results (one of them text-only)."""
    (tmp_path / "pyproject.toml").write_text("[tool.haha]\n")
    data = tmp_path / "train" / "data"
    (data / "cartoons").mkdir(parents=True)
    Image.new("RGB", (300, 200), "orange").save(data / PICTURES[0])
    Image.new("RGB", (120, 240), "teal").save(data / PICTURES[1])
    folder = tmp_path / "train" / "results"
    folder.mkdir(parents=True)
    write_doc(folder, "cartoons-a-001", picture_doc("cartoons-a-001", data, list(PICTURES)))
    write_doc(folder, "haha-a", results_doc("haha-a"))
    monkeypatch.setenv("HAHA_ROOT", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "160")
    return tmp_path


def decoded(src: str) -> Image.Image:
    assert src.startswith(PNG_DATA_URI)
    return Image.open(io.BytesIO(base64.b64decode(src.removeprefix(PNG_DATA_URI))))


def test_each_picture_gets_a_small_checked_thumbnail(root: Path) -> None:
    payload = index_payload(scan_results(root / "train" / "results"))
    caption = next(c for c in payload["configs"] if c["name"] == "cartoons-a-001")
    assert [r["prompt"] for r in caption["results"]] == [CAPTION, CAPTION]
    assert len({r["key"] for r in caption["results"]}) == 2  # one question, two pictures: two prompts
    shown = [payload["thumbnails"][r["thumbnail"]] for r in caption["results"]]
    assert [t["image"] for t in shown] == list(PICTURES) and all(t["refused"] is None for t in shown)
    assert [decoded(t["src"]).size for t in shown] == [(THUMBNAIL_PX, 64), (48, THUMBNAIL_PX)]
    plain = next(c for c in payload["configs"] if c["name"] == "haha-a")
    assert all(r["thumbnail"] is None and r["key"] == r["prompt"] for r in plain["results"])


@pytest.mark.parametrize(("image", "sha256", "word"), [
    ("../../etc/passwd", "0" * 64, NoThumbnail.REFUSED),
    ("https://example.com/cat.png", "0" * 64, NoThumbnail.REFUSED),
    (PICTURES[0], "0" * 64, NoThumbnail.CHANGED),
    ("cartoons/99.png", "0" * 64, NoThumbnail.MISSING),
    (PICTURES[0], None, NoThumbnail.UNRECORDED),
])
def test_a_hostile_or_stale_picture_gets_no_thumbnail(root: Path, image: str, sha256: str | None,
                                                      word: NoThumbnail) -> None:
    found = make_thumbnail(image, sha256, root / "train" / "data")
    assert (found.src, found.refused) == (None, word) and found.why


def test_the_page_says_why_in_a_word_and_escapes_what_results_name(root: Path) -> None:
    folder = root / "train" / "results"
    doc = json.loads((folder / "cartoons-a-001.json").read_text())
    doc["results"][0]["image"] = "../../</script><script>alert(1)</script>.png"
    doc["results"][1]["image_sha256"] = "f" * 64
    write_doc(folder, "cartoons-a-001", doc)
    page = render_html(scan_results(folder))
    assert "</script><script>alert(1)" not in page
    thumbnails = index_payload(scan_results(folder))["thumbnails"]
    assert sorted(t["refused"] for t in thumbnails.values()) == ["changed", "refused"]


def test_compare_names_the_picture_beside_the_prompt(root: Path) -> None:
    write_doc(root / "train" / "results", "cartoons-a-002",
              picture_doc("cartoons-a-002", root / "train" / "data", list(PICTURES)))
    result = CliRunner().invoke(app, ["compare", "cartoons-a-001", "cartoons-a-002"])
    assert result.exit_code == 0, result.output
    titles = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith(CAPTION)]
    assert titles == [f"{CAPTION}  [image: {PICTURES[0]}]", f"{CAPTION}  [image: {PICTURES[1]}]"]
    assert "cartoons-a-002 joke 1.1.3" in result.stdout
