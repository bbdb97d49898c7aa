"""`alliance-bot reader fit`: rebuild the reader's parameters (bot/training/)."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.common import current_settings, fail_on_known_errors


@click.group("reader")
def reader() -> None:
    """The answer reader: refit its parameters on PIAF train."""


@reader.command("fit")
@click.option(
    "--piaf",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="The PIAF folder (corpus, queries, qrels, answers, split.tsv).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the parameters (default: the package's params.json).",
)
@click.option("--limit", type=click.IntRange(1), help="Only the first N train articles (a quick check).")
@click.option(
    "--cache",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Vector cache file (default: reader-fit-vectors.npz in the model cache).",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the train indexes here (default: a temporary directory).",
)
@click.option(
    "--vectors-from",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="An index of the same PIAF texts whose vectors can be reused (e.g. the benchmark's).",
)
@click.option(
    "--variant",
    type=click.Choice(["lexical", "aligned", "neutral", "compact"]),
    default="aligned",
    show_default=True,
    help="The features fitted (docs/answers.md): aligned reads all; neutral leaves out the lexical ones.",
)
@click.option(
    "--withheld",
    is_flag=True,
    help="Also read each question against its own article without its answer (near misses).",
)
@click.option(
    "--groups",
    "groups_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the collected readings here, or reuse them when the file exists (refits in seconds).",
)
@fail_on_known_errors
def fit_command(
    piaf: Path,
    out: Path | None,
    limit: int | None,
    cache: Path | None,
    workdir: Path | None,
    vectors_from: Path | None,
    variant: str,
    withheld: bool,
    groups_file: Path | None,
) -> None:
    """Rebuild the reader's parameters from PIAF train articles, deterministically."""
    from bot.answer.reader.model import default_params_path

    # imported when it runs: `--help` stays instant
    from bot.training.reader_fit import DEFAULT_SETTINGS, SETTINGS, run_fit

    settings = current_settings()  # --index and ALLIANCE_* as for every command
    cache = cache or settings.paths.model_cache / "reader-fit-vectors.npz"
    run_fit(
        piaf,
        out or default_params_path(),
        limit=limit,
        cache=cache,
        vectors_from=vectors_from,
        settings=settings,
        log=lambda m: click.echo(m, err=True),
        workdir=workdir,
        groups_file=groups_file,
        variant=variant,
        wanted=SETTINGS if withheld else DEFAULT_SETTINGS,
    )
