"""The `haha` entry point: importing each verb's module registers it on the app, in the order `--help` lists them:
the whole pipeline first, then its stages, what is pending, the results, the judge, and the local models."""

from __future__ import annotations

import importlib

from pipeline.cli.app import app

VERB_MODULES = ("validate", "stages", "gitops", "plan", "doctor", "results", "judging", "ratings", "models", "sweep",
                "pull_request", "export")
for _module in VERB_MODULES:
    importlib.import_module(f"pipeline.cli.{_module}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
