"""The HTML shell of the server-rendered pages (source, report): no script from elsewhere,
no framework, readable from 360 px up. Light or dark as the reader's system asks
(`prefers-color-scheme`), or as `theme` forces (`<html data-theme="light|dark">`), the widget's rule."""

from __future__ import annotations

from html import escape

# The one inline script the pages carry (the source page scrolls its quote into view): allowed
# by its hash, so that no other inline script (an injection) can run.
SCROLL_JS = (
    "addEventListener('DOMContentLoaded',()=>{const m=document.getElementById('quote');"
    "if(m)m.scrollIntoView({block:'center'})})"
)
SCROLL = f"<script>{SCROLL_JS}</script>"
# Dark colours, once for a dark system (unless the page forces light) and once for data-theme="dark".
DARK = (
    "color-scheme:dark;--fg:#e4e8ef;--bg:#10151d;--card:#19212c;--line:#344051;--accent:#9cc0ff;"
    "--muted:#aab4c3;--th:#222c3a;--bar:#0a2f6e"
)
CSS = """
:root{color-scheme:light;--fg:#1b2330;--bg:#f7f8fb;--card:#fff;--line:#d5dae3;--accent:#0b3d91;
--muted:#4a5568;--th:#eef1f7;--bar:#0b3d91}
@media (prefers-color-scheme:dark){:root:not([data-theme=light]){DARK}}
:root[data-theme=dark]{DARK}
*,*::before,*::after{box-sizing:border-box}
body{margin:0;font:16px/1.6 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
color:var(--fg);background:var(--bg)}
header.top{background:var(--bar);color:#fff;padding:1rem 1.25rem}
header.top h1{margin:0;font-size:1.3rem;line-height:1.3;overflow-wrap:anywhere}
header.top p{margin:.25rem 0 0;font-size:.9rem}
header.top a{color:#fff}
main{max-width:48rem;margin:0 auto;padding:1rem 1.25rem 4rem}
h2{font-size:1.15rem;margin:1.6rem 0 .5rem;color:var(--accent)}
p,li{overflow-wrap:anywhere}
.doc p{white-space:pre-wrap;margin:0 0 1rem}
.doc ul,.doc ol{margin:0 0 1rem;padding-left:1.5rem}
.doc li{list-style:disc}
.doc li.o{list-style:none;margin-left:-1.1rem}
.doc li.d1{margin-left:1.25rem}.doc li.d2{margin-left:2.5rem}.doc li.d3{margin-left:3.75rem}
mark{background:#ffe066;color:#1b2330;padding:.1em 0;box-shadow:0 0 0 2px #ffe066;border-radius:2px}
a{color:var(--accent)}
.meta{color:var(--muted);font-size:.9rem}
table{border-collapse:collapse;width:100%;font-size:.92rem;margin:.5rem 0 1rem}
th,td{text-align:left;vertical-align:top;padding:.4rem .5rem;border-bottom:1px solid var(--line);
overflow-wrap:anywhere}
th{background:var(--th)}
td.num,th.num{text-align:right;white-space:nowrap}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(9.5rem,1fr));gap:.75rem;margin:1rem 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:.75rem}
.card b{display:block;font-size:1.5rem;color:var(--accent)}
.card span{font-size:.85rem;color:var(--muted)}
svg.chart{width:100%;max-width:560px;height:auto;display:block;background:#fff;border:1px solid var(--line);
border-radius:10px}
.comment{margin:.2rem 0;padding:.3rem .6rem;border-left:3px solid #b42318;background:var(--card)}
""".replace("DARK", DARK)

THEMES = ("light", "dark")


def html_page(
    title: str,
    body: str,
    *,
    lang: str = "fr",
    subtitle: str = "",
    extra_head: str = "",
    theme: str | None = None,
) -> str:
    """A whole page; `body` and `subtitle` are HTML already escaped by the caller."""
    forced = f' data-theme="{theme}"' if theme in THEMES else ""
    return (
        f'<!doctype html><html lang="{lang}"{forced}><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style>{extra_head}</head><body>"
        f'<header class="top"><h1>{escape(title)}</h1>{f"<p>{subtitle}</p>" if subtitle else ""}</header>'
        f"<main>{body}</main></body></html>"
    )
