"""`alliance-bot reader fit`: rebuild the reader's parameters (bot/training/)."""

from __future__ import annotations

from dataclasses import replace
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
    "--cross",
    is_flag=True,
    help="Fit the cross-encoder reader instead (answer/reader/cross/; checkpoints in --workdir).",
)
@click.option("--tiny", is_flag=True, help="With --cross: two layers, two articles: checks the pipeline.")
@click.option("--depth", type=click.IntRange(1, 12), help="With --cross: encoder layers read (default 8).")
@click.option("--trained", type=click.IntRange(1, 12), help="With --cross: top layers fitted (default 2).")
@click.option(
    "--top-n", type=click.IntRange(1, 50), help="With --cross: candidates read a question (default 6)."
)
@click.option("--epochs", type=click.IntRange(1, 100), help="With --cross: passes over the data (default 3).")
@fail_on_known_errors
def fit_command(
    piaf: Path,
    out: Path | None,
    limit: int | None,
    cache: Path | None,
    workdir: Path | None,
    vectors_from: Path | None,
    cross: bool,
    tiny: bool,
    depth: int | None,
    trained: int | None,
    top_n: int | None,
    epochs: int | None,
) -> None:
    """Rebuild the reader's parameters from PIAF train articles, deterministically."""
    from bot.answer.reader.model import default_params_path
    from bot.training.reader_fit import run_fit  # imported when it runs: `--help` stays instant

    settings = current_settings()  # --index and ALLIANCE_* as for every command
    if cross:
        from bot.embedding.build.cross_export import fitted_dir
        from bot.training.cross_fit import TINY, Config, run_cross_fit

        workdir = workdir or settings.paths.model_cache / ("reader-fit-tiny" if tiny else "reader-fit-cross")
        chosen = {"depth": depth, "trained": trained, "top_n": top_n, "epochs": epochs}
        config = replace(TINY if tiny else Config(), **{k: v for k, v in chosen.items() if v is not None})
        run_cross_fit(
            piaf,
            out or fitted_dir(),
            workdir,
            config,
            limit=2 if tiny else limit,
            settings=settings,
            log=lambda m: click.echo(m, err=True),
        )
        return
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
    )
