"""From files to a published index: loaders, chunking and the ingest pipeline."""
