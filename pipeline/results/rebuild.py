"""Rebuilding the index files in the results folder (the one writer of README.md and index.html)."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.files import write_atomic
from pipeline.results.entries import Scan, Sources
from pipeline.results.page import render_html
from pipeline.results.readme import render_readme
from pipeline.results.scan import scan_results


def write_index(results_dir: Path, sources: Sources | None = None) -> Scan:
    """Rebuild README.md and index.html in `results_dir`; each is replaced atomically."""
    scan = scan_results(results_dir, sources or Sources())
    write_atomic(results_dir / "README.md", render_readme(scan))
    write_atomic(results_dir / "index.html", render_html(scan))
    return scan
