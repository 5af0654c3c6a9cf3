"""`haha comment-results`: the training workflow's commit job tells each pull request what its configs made.

Light, like `haha commit-results` beside it: the commit job installs only pyyaml, pydantic, typer and rich.
"""

from __future__ import annotations

import re
from typing import Annotated

import typer

from pipeline.cli.app import app, say, verb
from pipeline.core.errors import UsageError
from pipeline.core.naming import is_basename
from pipeline.core.settings import load_settings


@app.command("comment-results")
@verb
def comment_results(
    configs: Annotated[list[str] | None, typer.Argument(
        help="The configs this run made results for (basenames); none: nothing to say.")] = None,
    index_url: Annotated[str, typer.Option(help="The results page (GitHub Pages) the comment links to.")] = "",
    repository: Annotated[str, typer.Option(envvar="GITHUB_REPOSITORY", help="owner/name.")] = "",
    branch: Annotated[str, typer.Option(envvar="GITHUB_REF_NAME", help="The branch the run trained.")] = "main",
    run_id: Annotated[str, typer.Option(envvar="GITHUB_RUN_ID", help="The Actions run (its table's key).")] = "",
    run_number: Annotated[str, typer.Option(envvar="GITHUB_RUN_NUMBER")] = "",
    run_attempt: Annotated[str, typer.Option(envvar="GITHUB_RUN_ATTEMPT")] = "1",
    server_url: Annotated[str, typer.Option(envvar="GITHUB_SERVER_URL")] = "https://github.com",
    api_url: Annotated[str, typer.Option(envvar="GITHUB_API_URL")] = "https://api.github.com",
) -> None:
    """Comment on the pull request that merged each config (found from its last commit through the GitHub API): a
    table per training run of each config's loss, quality signals and judge win rates against the previous config
    and the base model. A re-run updates the same comment. The token is GITHUB_TOKEN from the environment.
    """
    import os

    from pipeline.gitops.github import GitHub
    from pipeline.orchestration.pr_results import RunInfo
    from pipeline.orchestration.pr_results import comment_results as post

    if bad := [name for name in configs or [] if not is_basename(name)]:
        raise UsageError(f"{bad[0]!r} is not a config basename like haha-llama-3-8b-lora-017")
    if not configs:
        say("no config made results in this run: no comment")
        return
    if not re.fullmatch(r"[0-9]+", run_id):
        raise UsageError(f"--run-id must be GitHub's run id (digits), got {run_id!r}")
    if not re.match(r"https?://", index_url):
        raise UsageError(f"--index-url must be the results page's http(s) address, got {index_url!r}")
    github = GitHub(repository, os.environ.get("GITHUB_TOKEN", ""), api_url)
    attempt = f" (attempt {run_attempt})" if run_attempt not in ("", "1") else ""
    run = RunInfo(run_id, f"training run #{run_number or run_id}{attempt}",
                  f"{server_url.rstrip('/')}/{repository}/actions/runs/{run_id}")
    posted = post(load_settings(), github, configs, branch, run, index_url,
                  note=lambda text: say(text, "yellow"))
    for done in posted:
        say(f"pull request #{done.pull}: {'updated' if done.updated else 'commented'} ({', '.join(done.configs)})")
