"""A crawl's default limits (CLI options and the admin API), documented in README."""

DEFAULT_MAX_PAGES = 500
DEFAULT_MAX_DEPTH = 5
DEFAULT_MAX_BYTES = 10_000_000
DEFAULT_DELAY = 0.5  # seconds between two requests to one host; robots.txt may ask more
