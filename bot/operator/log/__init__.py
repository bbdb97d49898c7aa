"""The conversation log: every answer and its feedback, in any SQL database (SQLAlchemy Core)."""

from bot.operator.log.store import ConversationLog, open_engine

__all__ = ["ConversationLog", "open_engine"]
