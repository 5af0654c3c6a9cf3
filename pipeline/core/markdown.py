"""Text for people: markdown tables for GitHub job summaries and the results README, and counted nouns."""

from __future__ import annotations

from collections.abc import Sequence


def cell(value: object) -> str:
    """One table cell that cannot break its table or open HTML: whitespace flattened, `\\`, `|` and `<` escaped."""
    return " ".join(str(value).split()).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """The table's lines: header, separator, one line per row."""
    return ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(cell(value) for value in row) + " |" for row in rows)]


def plural(count: int, noun: str) -> str:
    """`1 config`, `2 configs`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
