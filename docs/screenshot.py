"""Regenerate docs/results-page.png, the README's picture of the results page, with headless Chromium.

    .venv/bin/python docs/screenshot.py

The picture is of a real page the pipeline wrote, not a mock-up, so it is regenerated rather than edited:
it shows `scratch/results/index.html`, which `make demo` and the README's "Add an experiment" steps write
(the committed picture is of those steps: two configs, the key that differs, their loss curves). Without
results there it writes two small sample results files (the tests' own writer) into a temporary folder, so
the script also works on a fresh clone in a second. In both cases the page is rebuilt with `haha results`
when any results file is newer than it, so the picture never shows a stale index. Chromium is the system
one (`command -v chromium`): no browser is downloaded.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO / "scratch" / "results"
DEFAULT_OUT = REPO / "docs" / "results-page.png"
# Wide enough for the configs table without wrapping, tall enough for the ranking and the first comparison.
DEFAULT_SIZE = "1440,1000"
# How long the page's own script may run before the picture is taken (ms of Chromium's virtual time): the
# page renders from JSON embedded in it, with no network, so this is generous.
RENDER_BUDGET_MS = 3000


def results_files(folder: Path) -> list[Path]:
    """The results documents in `folder` (not the failure records, which the page lists but does not draw)."""
    return sorted(p for p in folder.glob("*.json") if not p.name.endswith(".failed.json"))


def write_samples(folder: Path) -> None:
    """Two sample configs that differ in one key, so the page has a difference to highlight.

    The writer is the tests' (tests/sample_results.py), which builds documents with the eval's own
    writers: a format change reaches this picture without anyone editing this script.
    """
    sys.path.insert(0, str(REPO))
    from tests.sample_results import results_doc, write_doc

    folder.mkdir(parents=True, exist_ok=True)
    write_doc(folder, "haha-llama-3-8b-lora-001", results_doc("haha-llama-3-8b-lora-001"))
    write_doc(folder, "haha-llama-3-8b-lora-002",
              results_doc("haha-llama-3-8b-lora-002", repeat_cold=True, learning_rate=0.0002))


def build_page(folder: Path) -> Path:
    """`folder`/index.html, rebuilt with the repo's own `haha results` when missing or older than a results file."""
    page = folder / "index.html"
    newest = max((p.stat().st_mtime for p in results_files(folder)), default=0.0)
    if not page.exists() or page.stat().st_mtime < newest:
        haha = Path(sys.executable).with_name("haha")
        subprocess.run([str(haha), "results", "--results-dir", str(folder)], cwd=REPO, check=True)
    return page


def screenshot(page: Path, out: Path, size: str) -> None:
    """Render `page` in headless Chromium and write a PNG to `out`.

    `--no-sandbox` because CI and this machine run as root, where Chromium's sandbox refuses to start; the
    page is our own file. A throw-away profile keeps two runs (or a browser test) from sharing one.
    """
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        raise SystemExit("no chromium on PATH: install the system Chromium (apt-get install chromium)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="haha-shot-") as profile:
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={profile}", f"--window-size={size}", f"--virtual-time-budget={RENDER_BUDGET_MS}",
             f"--screenshot={out}", page.resolve().as_uri()],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    if not out.exists() or out.stat().st_size == 0:
        raise SystemExit(f"chromium wrote no picture to {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS,
                        help="results folder to picture (default scratch/results, what make demo writes)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write (default docs/results-page.png)")
    parser.add_argument("--size", default=DEFAULT_SIZE, help="window WIDTH,HEIGHT in pixels (default 1440,1000)")
    parser.add_argument("--sample", action="store_true", help="picture sample results even when demo results exist")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="haha-results-") as scratch:
        folder: Path = args.results_dir
        if args.sample or not results_files(folder):
            folder = Path(scratch)
            write_samples(folder)
            print(f"no results in {args.results_dir}: picturing sample results (run make demo for the real page)")
        page = build_page(folder)
        screenshot(page, args.out, args.size)
    print(f"wrote {args.out} from {page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
