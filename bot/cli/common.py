"""What every command shares: the settings built once by the root group, the one way
to print, and the one mapping of errors to what a user sees."""

from __future__ import annotations

import logging
import sqlite3
import sys
from functools import wraps
from typing import TYPE_CHECKING

import click

from bot import terminal

if TYPE_CHECKING:
    from bot.config import Settings

USAGE_ERROR = 2


def echo(text: str = "", err: bool = False) -> None:
    """Every line the CLI prints: questions, comments, titles and texts come from others."""
    click.echo(terminal.safe(text), err=err)


class SafeFormatter(logging.Formatter):
    """Log lines on the terminal go through `terminal.safe` too: a crawl's warnings name
    URLs and titles that come from the sites it reads."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal.safe(super().format(record))


class Failure(click.ClickException):
    """A failure the user can act on: one line on stderr, exit status 1."""

    def show(self, file=None) -> None:
        echo(f"alliance-bot: {self.message}", err=True)


def current_settings() -> Settings:
    """Built once by the root group from the environment and `--index`."""
    return click.get_current_context().find_root().obj


def fail_on_known_errors(func):
    """The one mapping of errors to what a CLI user sees: one line on stderr, exit 2 for a
    usage error (`QuestionError`), 1 for a failure; never a traceback for what they can fix."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except sqlite3.DatabaseError as e:
            raise Failure(
                f"base de l'index illisible ({e}) : relancez `alliance-bot ingest --rebuild`."
            ) from e
        except Exception as e:
            # Matched by name of module: a command that never imported bot.errors or
            # SQLAlchemy cannot have raised their errors, and importing them costs 0.3 s.
            if raised(e, "bot.errors", "UserError"):
                echo(f"alliance-bot: {one_line(e.detail)}", err=True)
                sys.exit(e.exit_code)
            if isinstance(e, OSError | RuntimeError):
                raise Failure(one_line(str(e))) from e
            if raised(
                e, "sqlalchemy.exc", "SQLAlchemyError"
            ):  # the log's database: down, refused, or a bad URL
                raise Failure(
                    f"base du journal injoignable ({type(e).__name__}) : vérifiez "
                    "ALLIANCE_DATABASE_URL et que la base répond."
                ) from e
            raise

    return wrapper


def raised(error: Exception, module: str, name: str) -> bool:
    """Whether `error` is a `module.name`, without importing `module` when it was not."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(error, getattr(loaded, name))


def one_line(message: str) -> str:
    return " ".join(message.split())
