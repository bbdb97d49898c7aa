"""Website sources: crawl a site within its scope and index its pages like files.

`limits` (the defaults), `urls` (scope, normalisation, the address guard), `fetch`
(polite HTTP: robots.txt, delays, limits, conditional requests), `decode` (a body's
Content-Encoding, decoded in bounded steps), `pages` (main text,
links, sitemaps, documents), `state` (what is remembered between crawls), `crawler`
(the run and its summary). Nothing is imported here: the CLI reads the defaults
without loading the crawler.
"""
