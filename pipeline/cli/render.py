"""How a run looks on the terminal: a progress bar per long step while it goes, then the closing tables.

`ConsoleListener` is the CLI's `RunListener`: a bar with elapsed time and an ETA for counted work
(training steps, eval cells), a spinner for the rest, and one line per config when it ends. On a
terminal the bars redraw; in a log (CI) each finished bar is printed once.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from pipeline.api import Chosen, JudgeReport, Outcome, RunReport, Step
from pipeline.cli.app import console, errors, say
from pipeline.core.files import shown_path
from pipeline.core.runs import RunPaths
from pipeline.orchestration.outcome import StageStatus
from pipeline.orchestration.report import (
    TABLE_HEADER,
    eval_headlines,
    outcome_table,
    packing_line,
    sample_table,
    training_sample_table,
)
from pipeline.results.values import loss_change


def shown(path: Path) -> str:
    """A path as the person typing would: relative to the current folder when it is inside it."""
    return shown_path(path, Path.cwd())


class Count(ProgressColumn):
    """`12/24` for counted work, nothing for a spinner."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.completed:.0f}/{task.total:.0f}" if task.total else "")


class Eta(ProgressColumn):
    """`eta 0:00:24` once the work has a count and a pace."""

    def render(self, task: Task) -> Text:
        left = task.time_remaining
        if not task.total or left is None or task.finished:
            return Text("")
        minutes, seconds = divmod(int(left), 60)
        return Text(f"eta {minutes // 60}:{minutes % 60:02d}:{seconds:02d}", style="cyan")


class ConsoleListener:
    """Progress bars while stages run, and each config's closing lines; a context manager that stops the bars."""

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self.progress: Progress | None = None
        self.counted: dict[tuple[str, str], TaskID] = {}
        self.status: tuple[tuple[str, str], TaskID] | None = None  # the spinner's step and task
        self.names: dict[str, str] = {}  # config basename -> its file name, for the closing line

    def __enter__(self) -> ConsoleListener:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop()

    def configs_chosen(self, chosen: Chosen) -> None:
        for item in chosen.reasons:
            say(f"pending: {item.path.name} ({item.reason})" if chosen.pending else
                f"also running {item.path.name}: {item.reason}")

    def config_started(self, path: Path, index: int, count: int) -> None:
        self.names[path.name.removesuffix(".yml")] = path.name
        if count > 1:
            console.rule(f"[{index}/{count}] {path.name}")

    def step(self, config: str, step: Step) -> None:
        progress = self._live()
        key = (config, step.what)
        if not step.total:
            if key not in self.counted:
                self._drop_status()
                self.status = key, progress.add_task(f"{config}: {step.what}", total=None, detail="")
            return
        if key not in self.counted:
            if self.status is not None and self.status[0] == key:  # the step's own spinner: its time counts
                self.counted[key], self.status = self.status[1], None
            else:
                self._drop_status()
                self.counted[key] = progress.add_task(f"{config}: {step.what}", total=step.total, detail="")
        progress.update(self.counted[key], completed=step.done, total=step.total, detail=step.detail)

    def config_finished(self, outcome: Outcome) -> None:
        self._stop()
        name = self.names.get(outcome.config, outcome.config)
        if outcome.train:
            overrides = outcome.train.overrides
            if self.verbose:
                for line in overrides:
                    say(f"override {line}", "dim")
            elif overrides:
                # The model it trained on is the one change a reader needs to read its losses and completions
                # (a smoke run's stand-in, a vision twin with random weights, a merged parent).
                for line in overrides:
                    if line.startswith("base_model:"):
                        say(f"{name}: {line}", "dim")
                run = RunPaths(outcome.train.run_dir.parent, outcome.config)
                say(f"{name}: {len(overrides)} settings changed for this run: see {shown(run.overrides)} (-v prints "
                    "them)", "dim")
            for warning in outcome.train.warnings:
                say(f"{name}: warning: {warning}", "yellow")
        ran = [f"{stage} {status}" for stage, status in outcome.stages.items() if status is not StageStatus.NOT_RUN]
        say(f"{name}: " + ", ".join(ran))
        if outcome.error:
            errors.print(outcome.error, style="yellow" if outcome.interrupted else "red", markup=False)

    def _live(self) -> Progress:
        """The bars, started on first use. Python's stdout and stderr stay as they are: libraries' prints go to
        stderr while a verb runs (app.stdout_for_haha), never into haha's own output through the bars."""
        if self.progress is None:
            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=24),
                                     Count(), TimeElapsedColumn(), Eta(), TextColumn("{task.fields[detail]}"),
                                     console=console, redirect_stdout=False, redirect_stderr=False)
            self.progress.start()
        return self.progress

    def _drop_status(self) -> None:
        if self.progress is not None and self.status is not None:
            self.progress.remove_task(self.status[1])
        self.status = None

    def _stop(self) -> None:
        """Spinners go; finished bars stay on the screen (in a log, they are printed now)."""
        self._drop_status()
        if self.progress is not None:
            self.progress.stop()
        self.progress, self.counted = None, {}


def print_table(header: list[str], rows: list[list[str]], title: str) -> None:
    view = Table(*header, title=title, show_lines=True)
    for row in rows:
        view.add_row(*row)
    console.print(view)


def show_samples(outcome: Outcome) -> None:
    """What training and the eval made: the packing estimate, samples from training, the eval's figures and the
    sample completions beside the base model's."""
    if outcome.train and (packing := packing_line(outcome.train.record)):
        say(f"{outcome.config}: {packing}")
    if outcome.train and outcome.train.record.samples:
        print_table(*training_sample_table(outcome.train.record.samples),
                    f"{outcome.config}: samples generated during training ({outcome.train.run_dir / 'complete.json'})")
    for line in eval_headlines(outcome):
        say(f"{outcome.config}: {line}")
    if outcome.evaluation and outcome.evaluation.samples:
        print_table(*sample_table(outcome.evaluation.samples, outcome.evaluation.before),
                    f"{outcome.config}: sample completions, seed 1 ({shown(outcome.evaluation.results_path)})")


def show_trained(outcome: Outcome) -> None:
    """The end of `haha train`: the loss, and where the adapter is."""
    assert outcome.train is not None
    if (line := loss_line(outcome)) is not None:
        say(line)
    say(f"adapter: {shown(outcome.train.run_dir / 'adapter')}")


def show_evaluated(outcome: Outcome, base: bool) -> None:
    """The end of `haha evaluate`: the samples and figures, and what the eval computed (or that it was done)."""
    evaluation = outcome.evaluation
    assert evaluation is not None
    show_samples(outcome)
    if (done := evaluation.report) is None:
        what = "this base model, eval spec and prompt format" if base else "this config hash"
        say(f"{outcome.config}: already evaluated for {what}: {shown(evaluation.results_path)}")
    else:
        say(f"{outcome.config}: {done.computed} cells computed, {done.resumed} resumed, {done.units} in all, "
            f"{done.seconds:.1f}s: {shown(done.path)}")


def show_predictions(config: str, written: list[Path]) -> None:
    for path in written:
        say(f"{config}: predictions written to {path}")
    if not written:
        say(f"{config}: no multiple_choice task ran, so there are no predictions to write", "yellow")


def loss_line(outcome: Outcome) -> str | None:
    """`haha-x-001: loss 3.820 → 2.830 over 24 steps`, for a config that trained; GRPO's mean reward beside it, the
    figure its training moves."""
    if outcome.train is None or (change := loss_change(outcome.train.record.losses)) is None:
        return None
    reward = loss_change(outcome.train.record.rewards)
    rewards = f", mean reward {reward}" if reward else ""
    return f"{outcome.config}: loss {change}{rewards} over {outcome.train.record.steps} steps"


def judge_line(report: JudgeReport) -> str:
    judge = report.judge
    return (f"judge {judge.basename} at {judge.revision[:12]}: scored {len(report.scored)} results files in "
            f"{report.seconds:.1f}s, {len(report.current)} already scored by it")


def show_run(report: RunReport) -> None:
    """The end of `haha run`: the judge, the table, each config beside the previous of its family, the samples
    beside the base model's, and last each config's loss."""
    if report.judge is not None:
        say(judge_line(report.judge))
    elif report.judge_skipped:
        say(f"judge not run: {report.judge_skipped}", "yellow")
    table = Table(*TABLE_HEADER, title="haha run")
    table.columns[0].overflow = "fold"  # config names stay whole on an 80-column CI log
    for row in outcome_table(report.outcomes):
        table.add_row(*row)
    console.print(table)
    if report.path is not None:
        say(f"report: {shown(report.path)}")
    for comparison in report.comparisons.values():
        if comparison.caveat:
            say(f"{comparison.config}: {comparison.caveat}", "yellow")
        print_table(["signal", comparison.previous, comparison.config, "change"],
                    [[row.label, row.previous, row.current, row.change] for row in comparison.rows],
                    f"{comparison.config} beside {comparison.previous}, the previous config of its family")
    for outcome in report.outcomes:
        show_samples(outcome)
    for outcome in report.outcomes:
        if (line := loss_line(outcome)) is not None:
            say(line)

