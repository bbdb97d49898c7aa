"""Alliance Bot: French question answering over an organisation's documents, with citations."""

__version__ = "0.1.0"
