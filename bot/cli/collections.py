"""`alliance-bot collections` (list, create, make public or private, delete, rename),
`alliance-bot keys add`,
and the `--collection` option of `ingest`, `ask`, `search`, `eval` and `report`.

The CLI is the operator's: it reads every collection, whatever its visibility."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.common import Failure, current_settings, echo, fail_on_known_errors

if TYPE_CHECKING:
    from bot.collections import Registry

# bot.collections and bot.errors are imported where used: `--version` and `--help` import
# neither (tests/cli/test_startup.py).


def registry() -> Registry:
    from bot.collections import Registry

    settings = current_settings()
    return Registry(settings.collections.root, settings.collections.default)


def _choose(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """The root group's settings, moved onto the collection named (the default one: unchanged)."""
    if value is None:
        return
    from bot.collections import check_name
    from bot.errors import UserError, unknown_collection

    root = ctx.find_root()
    try:
        check_name(value)
        if ctx.command.name != "ingest" and not registry().exists(value):
            raise unknown_collection()  # an ingest creates it; nothing else would find anything
    except UserError as e:
        raise click.BadParameter(e.detail, ctx=ctx, param=param) from None
    root.obj = root.obj.for_collection(value)


def collection_option(command):
    return click.option(
        "-c",
        "--collection",
        callback=_choose,
        expose_value=False,
        is_eager=True,
        help="The collection to work on (default: the default one; `ingest` creates a new one, private).",
    )(command)


def register_if_new() -> None:
    """Before an ingest into a collection that does not exist yet: created, private."""
    settings = current_settings()
    if settings.collections.named is not None:
        registry().create(settings.collections.named)


@click.group("collections", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_context
@fail_on_known_errors
def collections(ctx: click.Context, as_json: bool) -> None:
    """List the collections with their documents, passages and visibility."""
    if ctx.invoked_subcommand is not None:
        return
    from bot.index.stores import published_manifest

    rows = []
    reg = registry()
    settings = current_settings()
    for entry in reg.entries():
        manifest = published_manifest(settings.for_collection(entry.name).index)
        rows.append(
            {
                "name": entry.name,
                "visibility": entry.visibility,
                "default": entry.default,
                "documents": manifest.documents if manifest else 0,
                "chunks": manifest.chunks if manifest else 0,
                "version": manifest.version if manifest else None,
            }
        )
    if as_json:
        echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        mark = " (défaut)" if row["default"] else ""
        shown = "publique" if row["visibility"] == "public" else "privée"
        echo(f"{row['name']}{mark} — {shown} — {row['documents']} document(s), {row['chunks']} passages")


@collections.command("create")
@click.argument("name")
@click.option("--public", is_flag=True, help="Readable by anyone who reaches the server (default: private).")
@fail_on_known_errors
def create(name: str, public: bool) -> None:
    """Create an empty collection (private unless --public); fill it with `ingest --collection`."""
    reg = registry()
    if reg.exists(name):
        raise Failure(f"la collection {name} existe déjà.")
    reg.create(name, "public" if public else "private")
    shown = "publique" if public else "privée"
    echo(f"collection {name} créée ({shown}) : `alliance-bot ingest -c {name} DOSSIER`")


def _visibility(name: str, visibility: str) -> None:
    registry().set_visibility(name, visibility)  # type: ignore[arg-type]
    echo(f"collection {name} : {'publique' if visibility == 'public' else 'privée'}")


@collections.command("public")
@click.argument("name")
@fail_on_known_errors
def make_public(name: str) -> None:
    """Make a collection readable by anyone who reaches the server."""
    _visibility(name, "public")


@collections.command("private")
@click.argument("name")
@fail_on_known_errors
def make_private(name: str) -> None:
    """Make a collection readable only with a key that names it."""
    _visibility(name, "private")


_WAIT = click.option(
    "--wait",
    type=click.FloatRange(0),
    default=0,
    show_default=True,
    help="Seconds to wait for an ingest of the collection to finish (default: refuse at once).",
)


def _keys_told(ids: list[str], what: str) -> None:
    if ids:
        echo(f"clé(s) modifiée(s) dans ALLIANCE_KEYS_FILE ({what}) : {', '.join(ids)}")


@collections.command("delete")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@_WAIT
@fail_on_known_errors
def delete(name: str, yes: bool, wait: float) -> None:
    """Delete a collection: its index, its uploaded files and its name in the keys file (never
    the default collection). Waits for no running ingest: refuses while one runs."""
    from bot.index.collections import delete_collection

    settings, reg = current_settings(), registry()
    if name != reg.default and reg.exists(name) and not yes:
        click.confirm(
            f"Supprimer la collection {name}, son index et ses fichiers déposés ? (irréversible)",
            abort=True,
            err=True,
        )
    done = delete_collection(reg, name, settings.paths.data_dir, settings.collections.keys_file, wait)
    echo(f"collection {name} supprimée")
    _keys_told(done.keys, f"{name} retirée")


@collections.command("rename")
@click.argument("old")
@click.argument("new")
@_WAIT
@fail_on_known_errors
def rename(old: str, new: str, wait: float) -> None:
    """Rename a collection (nothing is embedded again); the keys that name it name the new one.
    The conversation log keeps the old name on the questions asked before."""
    from bot.index.collections import rename_collection

    settings = current_settings()
    done = rename_collection(
        registry(), old, new, settings.paths.data_dir, settings.collections.keys_file, wait
    )
    echo(f"collection {old} renommée en {new}")
    _keys_told(done.keys, f"{old} → {new}")


def _names(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str]:
    from bot.collections import check_name
    from bot.errors import UserError

    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    try:
        return [check_name(n) for n in names]
    except UserError as e:
        raise click.BadParameter(e.detail, ctx=ctx, param=param) from None


@click.group("keys")
def keys() -> None:
    """API keys of the collections (ALLIANCE_KEYS_FILE)."""


@keys.command("add")
@click.argument("key_id")
@click.option("--read", callback=_names, help="Collections the key reads, comma-separated.")
@click.option("--admin", callback=_names, help="Collections the key administers (and reads).")
@fail_on_known_errors
def add(key_id: str, read: list[str], admin: list[str]) -> None:
    """Make a key (replacing any key of this id) and print it, the only time it is shown: the
    file keeps only its hash."""
    from bot.keys import add_key

    path: Path | None = current_settings().keys_file
    if path is None:
        raise Failure("ALLIANCE_KEYS_FILE n'est pas défini : indiquez le fichier des clés (JSON).")
    if not read and not admin:
        raise Failure("une clé sans --read ni --admin n'ouvre rien : nommez ses collections.")
    key = add_key(path, key_id, read, admin)
    echo(key)
    echo(f"clé {key_id} ajoutée à {path} ; elle ne sera plus affichée.", err=True)
