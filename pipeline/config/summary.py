"""Markdown for a GitHub job summary from `haha validate --json`: the problems and each dataset's numbers.

The PR workflow appends this to `$GITHUB_STEP_SUMMARY`, so a reviewer sees what the configs drop
(rows longer than `sequence_len` vanish silently in Axolotl) without opening the log.

    python -m pipeline.config.summary validate.json >> "$GITHUB_STEP_SUMMARY"
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pipeline.core.markdown import plural, table


def validation_markdown(report: dict[str, Any]) -> str:
    """The summary section for one `haha validate --json` report."""
    summary = report.get("summary", {})
    problems = report.get("problems", [])
    datasets = report.get("datasets", [])
    failed = summary.get("errors", 0) > 0
    lines = ["## Validation", "",
             f"{'❌' if failed else '✅'} {plural(summary.get('configs', 0), 'config')}, "
             f"{plural(summary.get('errors', 0), 'error')}, {plural(summary.get('warnings', 0), 'warning')}", ""]
    if problems:
        lines += table(["where", "key", "severity", "message"],
                       [[f"{p['file']}:{p['line']}" if p.get("line") else p["file"], p["key"], p["severity"],
                         p["message"]] for p in problems])
        lines.append("")
    if datasets:
        lines += ["### Datasets", ""]
        lines += table(["config", "file", "rows", "duplicates", "dropped (too long)"],
                       [[d["config"], d["file"], d["rows"], d["duplicates"],
                         "not counted" if d.get("too_long") is None else d["too_long"]] for d in datasets])
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m pipeline.config.summary VALIDATE_JSON", file=sys.stderr)
        return 2
    sys.stdout.write(validation_markdown(json.loads(Path(argv[0]).read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
