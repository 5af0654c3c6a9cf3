"""Text for people: markdown for GitHub job summaries, the results README and model cards, and counted nouns.

Much of what these pages show comes from a pull request: config keys and values, file names, eval names,
samples and completions. GitHub renders markdown with raw HTML, links, images, headings and bare-URL
autolinks, so every such string reaches a page through one of the functions here, never as written:
`cell` for text (a table cell or a line), `code` for a name shown as code, `fenced` for a block, `link` for
a link whose address the pipeline built. docs/security.md lists the sinks; tests/unit/core/test_markup.py drives
hostile strings through each of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

# Inline markup a string could open: links and images (`[`, `]`), code spans, HTML and `<…>` autolinks, table
# cells, and the escape character itself. Backslash escapes are literal text to every CommonMark reader.
_INLINE = re.compile(r"([\\`\[\]|])")
# What GitHub links without brackets (`https://…`, `www.…`, `a@b.c`): broken at their `:`, `.` or `@`.
_AUTOLINK = re.compile(r"(?<=[A-Za-z0-9])(://)|(?i:(?<=www))(\.)|(@)")
# What makes a line a block (heading, quote, list item, thematic break, setext underline) when it starts one.
# (A backslash before a digit is a literal backslash, so an ordered list's `1.` is broken at its `.`.)
_BLOCK_START = re.compile(r"\A(?:(#|>|[-+*=](?=\s|\Z))|(?<=\A)(\d{1,9})([.)])(?=\s|\Z))")
# What stays unescaped in a link address the pipeline built; `(`, `)`, `<`, `>`, spaces and quotes are encoded.
_URL_SAFE = "/:?#=&%@+,;~-._!*"


def cell(value: object) -> str:
    """One line of inert text: whitespace flattened; `\\`, `` ` ``, `[`, `]`, `|` escaped, `<` as `&lt;`, bare
    URLs and addresses broken so GitHub does not link them, and a leading block marker escaped. Safe in a table
    cell, a list item, a line of its own, or after `**bold**:`. (An entity in the data stays an entity: it can
    only ever render as text.)"""
    text = " ".join(str(value).split()).replace("<", "&lt;")
    text = _INLINE.sub(r"\\\1", text)
    text = _AUTOLINK.sub(lambda match: "\\" + match.group(0), text)
    return _BLOCK_START.sub(_escape_block_start, text)


def _escape_block_start(match: re.Match[str]) -> str:
    marker, number, delimiter = match.groups()
    return f"\\{marker}" if marker else f"{number}\\{delimiter}"


def code(value: object) -> str:
    """A name shown as inline code (a file, a repo): a code span holds no markup, and its fence is longer than
    any run of backticks in the name. `|` is escaped, which GitHub's tables need even inside code."""
    text = " ".join(str(value).split()).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fenced(text: str, info: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run in `text`, so no line of it can close
    the block early and turn the rest into markdown."""
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence}{info}\n{text.rstrip(chr(10))}\n{fence}"


def link(label: str, url: str) -> str:
    """`[label](url)` for an address the pipeline built from checked parts (a Hub repo id, a W&B run path).
    `label` is markup already made inert by `cell` or `code`; the address is percent-encoded so nothing in it
    ends the link or starts another."""
    return f"[{label}]({quote(url, safe=_URL_SAFE)})"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """The table's lines: header, separator, one line per row; every cell escaped."""
    return ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(cell(value) for value in row) + " |" for row in rows)]


def plural(count: int, noun: str) -> str:
    """`1 config`, `2 configs`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
