"""The README keeps its promises to a newcomer, cheaply: it stays short, its links lead somewhere, and every
command in its shell blocks exists.

What is checked without running anything long: the size (under 8 KB, a two-minute read); every relative
link and image in the README and in docs/*.md resolves to a file (and a `#fragment` into a Markdown file to
one of its headings); every fenced block names its language, and `bash` blocks hold only commands that exist:
`make <target>` is a Makefile target, `haha <verb>` answers `--help`, any other program is on PATH or in the
venv, repo paths exist (or a `cp` earlier in the README creates them), and a `sed -i 's/PATTERN/...'` edit
matches a line of the file it edits, so the edit is not silently a no-op. Output is shown in `text` blocks,
which are not run. Running the blocks end to end is the demo's and the smoke tests' job.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

README = REPO / "README.md"
MAX_BYTES = 8 * 1024
SHELL_LANGUAGES = {"bash", "sh", "shell"}
# Languages whose blocks are samples to read, never commands to run.
SAMPLE_LANGUAGES = {"text", "yaml", "toml", "json"}
FENCE = re.compile(r"^```([\w-]*)\s*$")
# [text](target) and ![alt](target); the target ends at the first space or closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")
VENV_BIN = Path(sys.executable).parent


def markdown_files() -> list[Path]:
    return [README, *sorted((REPO / "docs").glob("*.md"))]


def fenced_blocks(text: str) -> list[tuple[str, list[str]]]:
    """Each fenced block as (language, lines), in order; an unclosed fence is an error, not a silent skip."""
    blocks: list[tuple[str, list[str]]] = []
    language: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        opened = FENCE.match(line)
        if language is None and opened:
            language, lines = opened.group(1), []
        elif language is not None and line.strip() == "```":
            blocks.append((language, lines))
            language = None
        elif language is not None:
            lines.append(line)
    assert language is None, "a code block is never closed"
    return blocks


def prose(text: str) -> str:
    """The text outside fenced blocks, where links live (a link inside a block is sample output)."""
    kept, inside = [], False
    for line in text.splitlines():
        if FENCE.match(line) or (inside and line.strip() == "```"):
            inside = not inside
            continue
        if not inside:
            kept.append(line)
    return "\n".join(kept)


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors_of(markdown: Path) -> set[str]:
    return {github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", prose(markdown.read_text()),
                                                           re.MULTILINE)}


def shell_commands(lines: list[str]) -> list[list[str]]:
    """Each simple command of a bash block, as words: continued lines joined, comments dropped, split at `&&`,
    `||`, `;` and `|`."""
    joined = "\n".join(lines).replace("\\\n", " ").splitlines()
    commands: list[list[str]] = []
    for line in joined:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        for word in lexer:
            if set(word) <= set(";&|"):
                if words:
                    commands.append(words)
                words = []
            else:
                words.append(word)
        if words:
            commands.append(words)
    return commands


def makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return {m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE)}


def readme_commands() -> list[list[str]]:
    return [command for language, lines in fenced_blocks(README.read_text()) if language in SHELL_LANGUAGES
            for command in shell_commands(lines)]


def test_the_readme_is_a_two_minute_read() -> None:
    size = len(README.read_bytes())
    assert size < MAX_BYTES, f"README.md is {size} bytes; move detail into docs/ to keep it under {MAX_BYTES}"


@pytest.mark.parametrize("markdown", markdown_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(markdown: Path) -> None:
    broken = []
    for target in LINK.findall(prose(markdown.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # a URL: checked by a person, not offline
        path, _, fragment = target.partition("#")
        resolved = (markdown.parent / path).resolve() if path else markdown
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors_of(resolved):
            broken.append(f"{target}: no heading #{fragment} in {resolved.name}")
    assert not broken, f"{markdown.name}: " + "; ".join(broken)


def test_every_block_names_its_language() -> None:
    """A block without a language reads as runnable to some and as output to others: say which."""
    languages = [language for language, _ in fenced_blocks(README.read_text())]
    assert all(languages), "a README code block has no language: bash for commands, text for output"
    assert set(languages) <= SHELL_LANGUAGES | SAMPLE_LANGUAGES, languages


def test_make_targets_exist() -> None:
    targets = makefile_targets()
    missing = [" ".join(c) for c in readme_commands() if c[0] == "make" and not set(c[1:]) <= targets]
    assert not missing, f"not Makefile targets: {missing}"


def test_haha_verbs_answer_help() -> None:
    """`haha <verb> --help` exits 0 for every verb the README uses, through the installed command's own app."""
    from typer.testing import CliRunner

    from pipeline.cli.main import app

    verbs = sorted({c[1] for c in readme_commands() if Path(c[0]).name == "haha" and len(c) > 1})
    assert verbs, "the README shows no haha command"
    failed = {verb: result.exit_code for verb in verbs
              if (result := CliRunner().invoke(app, [verb, "--help"])).exit_code != 0}
    assert not failed, f"not haha verbs: {failed}"


def test_programs_and_paths_exist() -> None:
    """Every program is installed (or is the venv's), every repo path an argument names exists or is made by a
    `cp` earlier in the README, and each `sed -i` substitution matches a line of what it edits."""
    created: dict[str, str] = {}  # a cp destination -> its source
    problems: list[str] = []
    for words in readme_commands():
        program = words[0]
        if program.startswith(".venv/bin/"):
            if not (VENV_BIN / Path(program).name).exists():
                problems.append(f"{program}: not in the venv")
        elif shutil.which(program) is None:
            problems.append(f"{program}: not on PATH")
        paths = [w for w in words[1:] if re.match(r"^(train|docs|tests|bench)/\S+\.\w+$", w)]
        if program == "cp" and len(paths) == 2:
            created[paths[1]] = paths[0]
        for path in paths:
            if path not in created and not (REPO / path).exists():
                problems.append(f"{' '.join(words)}: {path} does not exist")
        if program == "sed" and "-i" in words:
            script = words[words.index("-i") + 1]
            edited = created.get(paths[-1], paths[-1]) if paths else None
            substitution = re.match(r"^s(.)(.*?)\1", script)
            if edited and substitution and not re.search(substitution.group(2), (REPO / edited).read_text(),
                                                         re.MULTILINE):
                problems.append(f"{' '.join(words)}: the pattern matches no line of {edited}")
    assert not problems, problems
