"""The validate stage: a config's checks before anything trains, as a `Stage`."""

from __future__ import annotations

from pipeline.config.loading import ConfigLoadError, load_config
from pipeline.config.plugins import plugin_arg_models
from pipeline.config.policy import check_policy
from pipeline.config.rules import check_haha_rules
from pipeline.config.schema import check_schema
from pipeline.core.errors import StageError
from pipeline.core.naming import name_problem
from pipeline.core.problems import Problem, errors
from pipeline.orchestration.context import RunContext
from pipeline.orchestration.outcome import StageName, StageResult, StageStatus
from pipeline.orchestration.state import ConfigState
from pipeline.orchestration.validation import validate_config


class ValidateStage:
    """Full validation, or (`full=False`, for the single-stage commands) the haha and safety rules, plus with
    `schema` Axolotl's own schema (what `haha train` needs so Axolotl's refusal is a message, not its traceback).

    The full check also loads the tokenizer and counts every row's tokens: seconds to minutes that a
    stage command should not add on top of a training run.
    """

    name = StageName.VALIDATE

    def __init__(self, full: bool = True, schema: bool = False) -> None:
        self.full = full
        self.schema = schema

    def run(self, ctx: RunContext, state: ConfigState) -> StageResult:
        path = state.path
        if (bad_name := name_problem(path)) is not None:
            raise StageError(str(Problem(str(path), None, "filename", bad_name)))
        if self.full:
            report = validate_config(path, ctx.settings, count_lengths=not ctx.smoke)
            problems, config = report.problems, report.config
        else:
            try:
                config = load_config(path)
            except ConfigLoadError as exc:
                raise StageError(str(Problem(str(path), exc.line, "yaml", exc.message))) from None
            problems = check_haha_rules(config, ctx.settings, str(path)) + check_policy(config, ctx.settings,
                                                                                          str(path))
            if self.schema:
                problems += check_schema(config, str(path), plugin_arg_models(config.data, ctx.settings))
        if failures := errors(problems):
            raise StageError("\n".join(str(p) for p in failures))
        assert config is not None
        state.config = config
        return StageResult(StageStatus.OK, config)
