"""`haha run` (every stage, every config) and `haha train`, `haha publish`, `haha evaluate` (one stage each).

Each verb turns its flags into `RunOptions`, calls pipeline.api, and prints what came back (cli/render.py).
"""

from __future__ import annotations

import typer

from pipeline import api
from pipeline.cli import options as flags
from pipeline.cli.app import INTERRUPTED, app, say, verb
from pipeline.cli.render import ConsoleListener, show_evaluated, show_predictions, show_run, show_trained
from pipeline.config.effective import SMOKE_STEPS
from pipeline.evaluate.tasks import DEFAULT_BATCH_SIZE
from pipeline.models.smoke import SmokeModelChoice


def exit_for(outcomes: list[api.Outcome] | tuple[api.Outcome, ...]) -> None:
    """130 when a signal stopped the run, 1 when a config failed; returns when all went well."""
    if any(outcome.interrupted for outcome in outcomes):
        raise typer.Exit(INTERRUPTED)
    if any(outcome.failed for outcome in outcomes):
        raise typer.Exit(1)


@app.command()
@verb
def run(configs: flags.ConfigsArgument = None, smoke: flags.SmokeOption = False,
        smoke_model: flags.SmokeModelOption = SmokeModelChoice.AUTO, smoke_steps: flags.SmokeStepsOption = SMOKE_STEPS,
        hub: flags.HubOption = None, wandb: flags.WandbOption = None, workspace: flags.WorkspaceOption = None,
        report: flags.ReportOption = None, force: flags.RunForceOption = False, alone: flags.AloneOption = False,
        eval_file: flags.EvalFileOption = None, verbose: flags.VerboseOption = False) -> None:
    """Validate -> train -> publish -> evaluate each config, then the judge; one failure never stops the others.

    CONFIGS: config files to run (default: the pending ones, see haha pending; with --smoke, against smoke results).
    """
    options = flags.run_options(smoke=smoke, smoke_model=smoke_model, smoke_steps=smoke_steps, hub=hub, wandb=wandb,
                                workspace=workspace, force=force, alone=alone, report=report,
                                eval_options=api.EvalOptions(eval_file=eval_file))
    with ConsoleListener(verbose) as listener:
        done = api.run(configs or [], options, listener)
    if not done.outcomes:
        say("nothing to run: every config has results for its current hash")
        return
    show_run(done)
    exit_for(done.outcomes)


@app.command()
@verb
def train(config: flags.ConfigArgument, smoke: flags.SmokeOption = False,
          smoke_model: flags.SmokeModelOption = SmokeModelChoice.AUTO,
          smoke_steps: flags.SmokeStepsOption = SMOKE_STEPS, wandb: flags.WandbOption = None,
          workspace: flags.WorkspaceOption = None, force: flags.ForceOption = False,
          verbose: flags.VerboseOption = False) -> None:
    """Train one config with Axolotl; skips when this exact config already has an adapter.

    CONFIG: a config file in train/config. A run cut off by a signal resumes from its last complete checkpoint.
    """
    options = flags.run_options(smoke=smoke, smoke_model=smoke_model, smoke_steps=smoke_steps, wandb=wandb,
                                workspace=workspace, force=force)
    with ConsoleListener(verbose) as listener:
        outcome = api.train(config, options, listener)
    exit_for([outcome])
    show_trained(outcome)


@app.command()
@verb
def publish(config: flags.ConfigArgument, hub: flags.HubOption = None, smoke: flags.SmokeOption = False,
            wandb: flags.WandbOption = None, workspace: flags.WorkspaceOption = None,
            force: flags.ForceOption = False) -> None:
    """Push a trained adapter and its model card to `<org>/<basename>`; skips when the Hub has this exact push.

    CONFIG: a config file in train/config, trained with haha train (same --smoke/--workspace).
    """
    options = flags.run_options(smoke=smoke, hub=hub, wandb=wandb, workspace=workspace, force=force)
    with ConsoleListener() as listener:
        outcome = api.publish(config, options, listener)
    exit_for([outcome])
    assert outcome.publish is not None
    say(f"hub: {outcome.publish.url}")


@app.command()
@verb
def evaluate(config: flags.ConfigArgument, smoke: flags.SmokeOption = False, wandb: flags.WandbOption = None,
             workspace: flags.WorkspaceOption = None, force: flags.ForceOption = False,
             adapter: flags.AdapterOption = None, base_model: flags.BaseModelOption = None, out: flags.OutOption = None,
             eval_file: flags.EvalFileOption = None, batch_size: flags.BatchSizeOption = DEFAULT_BATCH_SIZE,
             base: flags.BaseOption = False, max_new_tokens: flags.MaxNewTokensOption = None,
             predictions: flags.PredictionsOption = None) -> None:
    """Run the eval tasks (the sweep: prompts x settings x seeds) and write the results file; resumes a cut-off eval.

    CONFIG: a config in train/config, trained with haha train (same --smoke/--workspace), or any with --adapter.
    """
    evals = api.EvalOptions(batch_size, max_new_tokens, adapter, base_model, out, eval_file)
    options = flags.run_options(smoke=smoke, wandb=wandb, workspace=workspace, force=force, eval_options=evals)
    with ConsoleListener() as listener:
        outcome = api.evaluate(config, options, listener, base=base)
    exit_for([outcome])
    show_evaluated(outcome, base)
    if predictions is not None:
        show_predictions(outcome.config, api.write_predictions(outcome, predictions))
