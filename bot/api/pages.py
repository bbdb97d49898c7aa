"""The HTML shell of the server-rendered pages (source, report): no script from elsewhere,
no framework, readable from 360 px up."""

from __future__ import annotations

from html import escape

CSS = """
*,*::before,*::after{box-sizing:border-box}
body{margin:0;font:16px/1.6 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
color:#1b2330;background:#f7f8fb}
header.top{background:#0b3d91;color:#fff;padding:1rem 1.25rem}
header.top h1{margin:0;font-size:1.3rem;line-height:1.3;overflow-wrap:anywhere}
header.top p{margin:.25rem 0 0;font-size:.9rem}
header.top a{color:#fff}
main{max-width:48rem;margin:0 auto;padding:1rem 1.25rem 4rem}
h2{font-size:1.15rem;margin:1.6rem 0 .5rem;color:#0b3d91}
p,li{overflow-wrap:anywhere}
.doc p{white-space:pre-wrap;margin:0 0 1rem}
mark{background:#ffe066;color:#1b2330;padding:.1em 0;box-shadow:0 0 0 2px #ffe066;border-radius:2px}
a{color:#0b3d91}
.meta{color:#4a5568;font-size:.9rem}
table{border-collapse:collapse;width:100%;font-size:.92rem;margin:.5rem 0 1rem}
th,td{text-align:left;vertical-align:top;padding:.4rem .5rem;border-bottom:1px solid #d5dae3;
overflow-wrap:anywhere}
th{background:#eef1f7}
td.num,th.num{text-align:right;white-space:nowrap}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(9.5rem,1fr));gap:.75rem;margin:1rem 0}
.card{background:#fff;border:1px solid #d5dae3;border-radius:10px;padding:.75rem}
.card b{display:block;font-size:1.5rem;color:#0b3d91}
.card span{font-size:.85rem;color:#4a5568}
svg.chart{width:100%;max-width:560px;height:auto;display:block;background:#fff;border:1px solid #d5dae3;
border-radius:10px}
.comment{margin:.2rem 0;padding:.3rem .6rem;border-left:3px solid #b42318;background:#fff}
"""


def html_page(title: str, body: str, *, lang: str = "fr", subtitle: str = "", extra_head: str = "") -> str:
    """A whole page; `body` and `subtitle` are HTML already escaped by the caller."""
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style>{extra_head}</head><body>"
        f'<header class="top"><h1>{escape(title)}</h1>{f"<p>{subtitle}</p>" if subtitle else ""}</header>'
        f"<main>{body}</main></body></html>"
    )
