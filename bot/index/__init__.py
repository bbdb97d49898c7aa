"""Where a generation lives on disk: its store (SQLite, lock, pointer), dense and BM25 indexes."""
