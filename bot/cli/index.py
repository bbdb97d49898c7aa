"""`alliance-bot index copy SRC DST`: move an index between stores without embedding again."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click

from bot.cli.collections import collection_option
from bot.cli.common import current_settings, echo, fail_on_known_errors


@click.group("index")
def index() -> None:
    """The index's stores: the generation folder and PostgreSQL (pgvector)."""


def _store(where: str):
    from bot.index.stores import open_store

    config = current_settings().index
    if where.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        return open_store(replace(config, store_url=where))
    return open_store(replace(config, index_dir=Path(where), store_url=None))


@index.command("copy")
@click.argument("source")
@click.argument("target")
@click.option("--wait", type=float, default=600.0, show_default=True, help="Seconds to wait for an ingest.")
@collection_option
@fail_on_known_errors
def copy_command(source: str, target: str, wait: float) -> None:
    """Publish SOURCE's index in TARGET (each a folder or a postgresql:// URL), vectors and
    all: nothing is embedded again. Example: `alliance-bot index copy embeddings/ postgresql://…`."""
    from bot.ingest.pipeline import copy_index

    src, dst = _store(source), _store(target)
    name = copy_index(src, dst, wait)
    echo(json.dumps({"source": src.describe(), "target": dst.describe(), "version": name}))


@index.command("status")
@collection_option
@fail_on_known_errors
def status_command() -> None:
    """The store in force and its published generation, as JSON; exit status 1 while nothing
    is published (an init container waits on it)."""
    from bot.index.stores import open_store

    target = open_store(current_settings().index)
    name = target.current()
    manifest = target.read_manifest(name) if name is not None else None
    echo(
        json.dumps(
            {
                "store": target.describe(),
                "version": name,
                "documents": manifest.documents if manifest else 0,
                "chunks": manifest.chunks if manifest else 0,
            }
        )
    )
    if name is None:
        raise SystemExit(1)
