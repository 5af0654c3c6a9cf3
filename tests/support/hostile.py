"""Hostile strings and the check that what the pipeline renders from them stays inert markdown: the same
structure as from plain strings, links only to the pipeline's own addresses, nothing autolinkable."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable

from markdown_it import MarkdownIt

PIECES = (
    "# heading", "\n## h2\n", "\n\n### h3", "<img src=x onerror=alert(1)>", "<details><summary>hidden", "</details>",
    "[link](https://evil.example/x)", "![img](https://evil.example/i.png)", "https://evil.example/bare",
    "www.evil.example", "mail@evil.example", "<https://evil.example>", "[ref]: https://evil.example", "[ref]",
    "`", "```", "~~~", "|", "||", "\\", "\\|", "*", "_", "<script>alert(1)</script>", "<!--", "-->", "> quote",
    "- item", "1. item", "2) item", "\r\n", "\t", "&lt;b&gt;", "&#60;i&#62;", "(", ")", "]", "[", "=", "---",
    "\u2028", "é", "😀", " ", "\n\n", "<", ">", "\\[x](y)", "!",
)
PLAIN = "plain"
# Where the pipeline's own links point; nothing from data may add another.
OWN_LINKS = ("https://huggingface.co/", "https://wandb.ai/", "https://github.com/haha-lab/haha/", "index.html")
# Token kinds that change what a page shows beyond text; emphasis is left out (harmless, and not escaped).
STRUCTURE = {"link_open", "image", "html_inline", "html_block", "heading_open", "table_open", "tr_open",
             "th_open", "td_open", "fence", "code_block", "code_inline", "blockquote_open", "bullet_list_open",
             "ordered_list_open", "list_item_open", "hr"}
# What GitHub's autolinker links in text: `scheme://`, `www.`, an address with `@`.
AUTOLINKABLE = re.compile(r"[A-Za-z0-9]://|(?i:www\.)|[A-Za-z0-9]@")
def strings(rng: random.Random | None) -> Callable[[], str]:
    """Distinct strings, so that what differs between configs differs alike: hostile ones from `rng`, or plain."""
    count = iter(range(10**6))

    def make() -> str:
        unique = f"{PLAIN}{next(count)}"
        if rng is None:
            return unique
        parts = [rng.choice(PIECES) + rng.choice(("", " ", "a")) for _ in range(rng.randint(1, 5))]
        parts.insert(rng.randint(0, len(parts)), unique)
        return "".join(parts)
    return make


def _markdown() -> MarkdownIt:
    # Escapes stay separate tokens (no text_join), so an escaped `:` or `@` is not part of a text token.
    return MarkdownIt("commonmark").enable("table").disable("text_join")


def _tokens(markdown: str) -> list:
    flat = []
    for token in _markdown().parse(markdown):
        flat.append(token)
        flat += token.children or []
    return flat


def assert_inert(made: str, plain: str) -> None:
    """`made` (from hostile data) has the structure of `plain` (from plain strings), links only to the
    pipeline's own addresses, and no autolinkable text."""
    tokens = _tokens(made)
    structure = Counter(token.type for token in tokens if token.type in STRUCTURE)
    assert structure == Counter(token.type for token in _tokens(plain) if token.type in STRUCTURE), made
    for token in tokens:
        if token.type in ("link_open", "image"):
            href = str(token.attrGet("href") or token.attrGet("src"))
            assert href.startswith(OWN_LINKS), href
        if token.type == "text":
            assert not AUTOLINKABLE.search(token.content), token.content
