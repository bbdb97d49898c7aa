"""Command line: `alliance-bot ingest | ask | search | eval | serve | mcp | model`.

Imports only click and the standard library at the top: each command imports what it uses
when it runs, so `--version` and `--help` answer at once and `ask` loads no server, no
loader and no fitting code (tests/cli/test_startup.py)."""

from __future__ import annotations

import json
import logging
import os
import sys
import textwrap
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.collections import collection_option, collections, keys, register_if_new
from bot.cli.common import USAGE_ERROR, SafeFormatter, current_settings, echo, fail_on_known_errors
from bot.cli.index import index
from bot.cli.model import model
from bot.cli.reader import reader
from bot.crawl.limits import DEFAULT_DELAY, DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, DEFAULT_MAX_PAGES

if TYPE_CHECKING:
    from bot.config import Settings


class _Root(click.Group):
    """The root group; it remembers which command it ran, for `main`'s fast exit."""

    ran: str | None = None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        self.ran = name
        return name, command, rest


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--index",
    "index_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="ALLIANCE_INDEX_DIR",
    help="Index directory (default: embeddings/).",
)
@click.option(
    "--store",
    "store_url",
    envvar="ALLIANCE_STORE_URL",
    help="postgresql://… : the index in this PostgreSQL database (pgvector) instead of the folder.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
@click.version_option(package_name="alliance-bot")
@click.pass_context
def cli(ctx: click.Context, index_dir: Path | None, store_url: str | None, verbose: bool) -> None:
    """Alliance Bot: French question answering over your documents, with cited sources."""
    from pydantic import ValidationError

    from bot.config import Settings

    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    # Before torch loads OpenMP (torch backend, fits): threads spinning at barriers steal
    # the core a sibling needs; on 2 busy cores one query went from 50 ms to 1 s.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    overrides: dict = {"index_dir": index_dir} if index_dir else {}
    if store_url:
        overrides["store_url"] = store_url
    try:
        ctx.obj = Settings(**overrides)
    except ValidationError as e:
        problems = "; ".join(f"{_env_name(err['loc'])}: {err['msg']}" for err in e.errors())
        echo(f"alliance-bot: réglage invalide ({problems})", err=True)
        sys.exit(USAGE_ERROR)


def _env_name(loc: tuple) -> str:
    name = "_".join(map(str, loc)).upper()
    return name if name.startswith("ALLIANCE_") else f"ALLIANCE_{name}"


@cli.command("ingest")
@click.argument("paths", nargs=-1, type=click.Path())  # str: a URL must keep its "//"
@click.option("--rebuild", is_flag=True, help="Start from an empty index (after a model change).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--wait",
    type=click.FloatRange(0),
    default=600,
    show_default=True,
    help="Seconds to wait for another ingest of the same index to finish.",
)
@click.option(
    "--crawl",
    is_flag=True,
    help="The arguments are web addresses (pages or a sitemap.xml): crawl their site.",
)
@click.option(
    "--max-pages",
    type=click.IntRange(1),
    default=DEFAULT_MAX_PAGES,
    show_default=True,
    help="Crawl: URLs visited at most.",
)
@click.option(
    "--max-depth",
    type=click.IntRange(0),
    default=DEFAULT_MAX_DEPTH,
    show_default=True,
    help="Crawl: links followed from a start URL at most.",
)
@click.option(
    "--max-bytes",
    type=click.IntRange(1024),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Crawl: largest page or document read, in bytes.",
)
@click.option(
    "--delay",
    type=click.FloatRange(0),
    default=DEFAULT_DELAY,
    show_default=True,
    help="Crawl: seconds between two requests to a host (robots.txt's Crawl-delay if longer).",
)
@click.option(
    "--allow-private",
    is_flag=True,
    help="Crawl: allow loopback, link-local and private addresses (an intranet).",
)
@collection_option
@fail_on_known_errors
def ingest_command(
    paths: tuple[str, ...],
    rebuild: bool,
    as_json: bool,
    wait: float,
    crawl: bool,
    max_pages: int,
    max_depth: int,
    max_bytes: int,
    delay: float,
    allow_private: bool,
) -> None:
    """Index documents (default: documents/), or with --crawl the pages of a website.
    Unchanged files and pages are not embedded again."""
    from bot.ingest.pipeline import ingest

    settings = current_settings()
    register_if_new()

    def load_model():  # imported here: torch is not even imported when nothing changed
        from bot.embedding import load_embedder

        return load_embedder(settings.embedding)

    if crawl:
        _crawl(
            settings,
            load_model,
            list(paths),
            as_json,
            wait,
            rebuild,
            max_pages=max_pages,
            max_depth=max_depth,
            max_bytes=max_bytes,
            delay=delay,
            allow_private=allow_private,
        )
        return
    if any(p.startswith(("http://", "https://")) for p in paths):
        from bot.errors import QuestionError

        raise QuestionError(
            "url_without_crawl",
            "Une adresse web s'indexe avec --crawl : `alliance-bot ingest https://… --crawl`.",
            "A web address is indexed with --crawl: `alliance-bot ingest https://… --crawl`.",
        )
    roots = [Path(p) for p in paths] or [settings.index.documents_dir]
    summary = ingest(roots, settings.index, load_model, rebuild=rebuild, wait=wait)
    if as_json:
        echo(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
        return
    echo(
        f"{len(summary.added)} ajouté(s), {len(summary.updated)} mis à jour, "
        f"{len(summary.removed)} supprimé(s), {len(summary.unchanged)} inchangé(s), "
        f"{len(summary.kept)} conservé(s) (illisible(s) cette fois), "
        f"{len(summary.skipped)} ignoré(s) ; {summary.chunks} passages ; "
        f"{summary.seconds:.1f} s ; index {summary.version}"
    )
    for skipped in summary.skipped:
        echo(f"  ignoré : {skipped.path} — {skipped.reason}")


def _crawl(
    settings, load_model, urls: list[str], as_json: bool, wait: float, rebuild: bool, **limits
) -> None:
    from bot.crawl.crawler import CrawlOptions, crawl
    from bot.errors import QuestionError

    if not urls:
        raise QuestionError(
            "no_url",
            "--crawl attend au moins une adresse web (https://…).",
            "--crawl needs at least one web address (https://…).",
        )
    if rebuild:
        raise QuestionError(
            "crawl_rebuild",
            "--rebuild ne se combine pas avec --crawl : "
            "reconstruisez l'index d'abord, puis relancez le crawl.",
            "--rebuild does not go with --crawl: rebuild first, then crawl.",
        )
    summary = crawl(CrawlOptions(urls, **limits), settings.index, load_model, wait=wait)
    if as_json:  # URLs are the site's: escaped like every line (JSON's own \u escape)
        echo(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
        return
    echo(
        f"{len(summary.fetched)} téléchargée(s), {len(summary.unchanged)} inchangée(s), "
        f"{len(summary.added)} ajoutée(s), {len(summary.updated)} mise(s) à jour, "
        f"{len(summary.removed)} retirée(s), {len(summary.kept)} conservée(s) (échec passager), "
        f"{len(summary.skipped)} ignorée(s), {summary.not_visited} non visitée(s) (--max-pages) ; "
        f"{summary.requests} requêtes ; {summary.chunks} passages ; {summary.seconds:.1f} s ; "
        f"index {summary.version}"
    )
    for skipped in summary.skipped:
        echo(f"  ignorée : {skipped.path} — {skipped.reason}")


def _open_assistant():
    """The assistant over the index, brought up to date. The model loads in a thread while
    this one imports and loads the index: ONNX Runtime builds its session without the GIL,
    so `ask` waits for the longer of the two rather than their sum."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.embedding import embedder_loader

    settings = current_settings()
    load_model = embedder_loader(settings.embedding)  # its imports first: the thread then loads
    with ThreadPoolExecutor(1, thread_name_prefix="model") as pool:
        model = pool.submit(load_model)
        from bot.answer.assistant import Assistant
        from bot.ingest import freshness

        if not freshness.unchanged(settings.index):  # else the loaders are not even imported
            from bot.ingest.pipeline import ensure_index

            ensure_index(settings.index, model.result)  # waits for the model only to embed
            freshness.record(settings.index)
        assistant = Assistant(settings.answer, embedder=_Loading(model))
        model.result()  # its errors are the command's, told before any answer
    return assistant


class _Loading:
    """An embedder still loading in a thread: its first use waits for it."""

    def __init__(self, future):
        self._future = future

    def __getattr__(self, name: str):
        return getattr(self._future.result(), name)


def _quote(quote: str, margin: str = "      ", width: int = 102) -> str:
    """A citation's quote between « », one list item or table row a line (`bot.shape`), each
    line wrapped on its own under its text."""
    from bot.shape import plain_lines

    lines = plain_lines(quote) or [("", "")]
    lines[0] = (lines[0][0] and "  " + lines[0][0], "« " + lines[0][1])
    lines[-1] = (lines[-1][0], lines[-1][1] + " »")
    return "\n".join(
        textwrap.fill(line, width=width, initial_indent=margin, subsequent_indent=margin + indent)
        for indent, line in lines
    )


@cli.command("ask")
@click.argument("question")
@click.option("-k", "--top-k", "k", type=click.IntRange(1, 50), help="Passages to retrieve.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer contract as JSON.")
@collection_option
@fail_on_known_errors
def ask_command(question: str, k: int | None, as_json: bool) -> None:
    """Answer a question from the documents, with numbered sources."""
    _check_question(question)
    answer = _open_assistant().ask(question, k)
    if as_json:
        echo(answer.model_dump_json(indent=2))
        return
    if answer.short_answer is not None:
        echo(f"{answer.short_answer.text} [{answer.short_answer.n}]\n")
    echo(textwrap.fill(answer.answer, width=100))
    if answer.status == "no_answer":
        echo("\nPassages les plus proches :")
        for p in answer.passages[:3]:
            echo(f"  - {p.title} ({_location(p)}) : {_excerpt(p.text)}")
        return
    from bot.api.sources import source_link

    settings = current_settings()
    named = settings.collections.named
    echo("\nSources :")
    for c in answer.citations:
        echo(f"  [{c.n}] {c.title} — {_location(c)}")
        echo(_quote(c.quote))
        echo(f"      {source_link(settings.operator.public_url, c.source, c.char_start, c.char_end, named)}")


@cli.command("search")
@click.argument("question")
@click.option("-k", "--top-k", "k", type=click.IntRange(1, 50), help="Passages to retrieve.")
@click.option("--json", "as_json", is_flag=True, help="Print the ranked passages as JSON.")
@collection_option
@fail_on_known_errors
def search_command(question: str, k: int | None, as_json: bool) -> None:
    """Ranked passages only, with their dense and BM25 evidence."""
    _check_question(question)
    assistant = _open_assistant()
    passages = assistant.search(question, k).passages
    if as_json:
        echo(json.dumps([p.model_dump() for p in passages], ensure_ascii=False, indent=2))
        return
    for p in passages:
        echo(
            f"{p.rank:>2}. {p.score:.3f}  {p.title} ({_location(p)})  "
            f"dense #{p.dense_rank or '-'} {p.dense_score:.3f} · bm25 #{p.bm25_rank or '-'} "
            f"{p.bm25_score:.2f}\n    {_excerpt(p.text)}"
        )


@cli.command("eval")
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
@click.option("--limit", type=click.IntRange(1), help="Evaluate the first N questions only.")
@collection_option
@fail_on_known_errors
def eval_command(target: Path, as_json: bool, limit: int | None) -> None:
    """Measure on a question file (.jsonl) or a dataset folder (corpus, queries, qrels)."""
    from bot.training import evaluate

    settings = current_settings()
    if target.is_dir():
        metrics = evaluate.evaluate_dataset(target, settings, limit=limit)
    else:
        evaluate.read_jsonl(target, required="question")  # a bad line is told before the model loads
        metrics = evaluate.evaluate_questions(target, _open_assistant(), limit=limit)
        metrics.pop("records")
    if as_json:
        echo(json.dumps(metrics, ensure_ascii=False))
    else:
        for key, value in metrics.items():
            echo(f"{key:>16}  {value}")


@cli.command("report")
@click.option("--since", default="7d", show_default=True, help="Period: 7d, 24h, 30m…")
@click.option(
    "--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML page."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@collection_option
@fail_on_known_errors
def report_command(since: str, html_file: Path | None, as_json: bool) -> None:
    """The operator's report over the conversation log (ALLIANCE_DATABASE_URL or data/log.sqlite)."""
    from bot.operator import report
    from bot.operator.log.store import open_engine

    try:
        period = report.parse_since(since)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--since") from e
    settings = current_settings()
    assistant = _open_assistant()
    engine = open_engine(settings.operator.log_url)
    named = settings.collections.named
    titles = {d.source: d.title for d in assistant.index.documents.values()}
    data = report.build_report(engine, period, assistant.embedder, titles, collection=named)
    engine.dispose()
    if html_file:
        html_file.write_text(report.render_html(data), encoding="utf-8")
    if as_json:
        echo(json.dumps(data, ensure_ascii=False, indent=2))
    elif not html_file:
        echo(report.render_text(data))


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@fail_on_known_errors
def serve_command(host: str, port: int) -> None:
    """Serve the widget, the demo page and the HTTP API (index and model loaded once)."""
    # One thread per forward pass: with requests arriving together, a second thread only
    # fights the web server for the cores (bench/api_load.py: p99 839 ms vs 1287 ms).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import uvicorn

    from bot.api.app import create_app

    root = click.get_current_context().find_root()
    root.obj = root.obj.model_copy(update={"collection": None})  # serves every collection
    settings = current_settings()
    assistant = _open_assistant()
    app = create_app(settings, assistant)
    uvicorn.run(app, host=host, port=port, log_level="info", **uvicorn_options(settings))


@cli.command("mcp")
@fail_on_known_errors
def mcp_command() -> None:
    """Serve the MCP tools (ask, search, list_documents) and documents over stdio, for desktop hosts."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from bot.mcp_server import AllianceMCP, LoggedHooks

    settings = current_settings()
    assistant = _open_assistant()

    def current():
        assistant.refresh_if_changed()
        return assistant

    AllianceMCP(current, LoggedHooks(settings)).run("stdio")


def uvicorn_options(settings: Settings) -> dict:
    """Read timeouts, a connection cap and whose X-Forwarded-For is believed (nobody's by
    default: uvicorn alone would trust 127.0.0.1, so a local client could pick its identity)."""
    from bot.api.protocol import protocol_class

    return {
        "http": protocol_class(
            settings.http.head_read_timeout, settings.http.limit_per_client, settings.http.trusted_proxies
        ),
        "timeout_keep_alive": settings.http.timeout_keep_alive,
        "limit_concurrency": settings.http.limit_concurrency,
        "h11_max_incomplete_event_size": settings.http.max_header_bytes,
        "proxy_headers": bool(settings.http.trusted_proxies),
        "forwarded_allow_ips": list(settings.http.trusted_proxies),
        "server_header": False,
    }


def _check_question(question: str) -> None:
    """The assistant's own check (`bot.answer.question`), before the model loads: a usage error
    at once. Bytes that are not text in the terminal's encoding arrive as lone surrogates."""
    from bot.answer.question import check_question

    check_question(question, current_settings().max_question_chars)


def _location(item) -> str:
    where = item.source
    if getattr(item, "page", None):
        where += f", p. {item.page}"
    return f"{where}, car. {item.char_start}–{item.char_end}"


def _excerpt(text: str, width: int = 160) -> str:
    return textwrap.shorten(" ".join(text.split()), width=width, placeholder=" …")


cli.add_command(model)
cli.add_command(collections)
cli.add_command(keys)
cli.add_command(reader)
cli.add_command(index)


# Commands that only read: once they returned, nothing is left to write but stdout.
EXIT_AT_ONCE = frozenset({"ask", "search", "eval", "report"})


def main() -> None:
    try:
        cli(prog_name="alliance-bot")
    except SystemExit as done:
        if cli.ran in EXIT_AT_ONCE and (done.code is None or isinstance(done.code, int)):
            exit_at_once(done.code or 0)
        raise


def exit_at_once(code: int) -> None:
    """End the process now, its output flushed: tearing the interpreter down (the ONNX Runtime
    session, some 470 modules) takes 0.15-0.2 s after the answer is printed. Only here, in
    the console entry point (tests run commands in-process), and only when no other thread
    still has work to finish; else it returns and Python exits as usual."""
    if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: the usual exit reports it as usual
        return
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    main()
