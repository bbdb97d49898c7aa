"""What a visitor's browser receives: bytes on the wire and the first streamed event, with the
compression layer off (ALLIANCE_COMPRESS=0, as before issue 23) and on, in one run.

    python bench/widget_wire.py [--rounds 30]

Builds an index of documents/ in a temporary folder, starts two servers on it (compression
off and on), then, alternating the two in each round so that machine load hits both alike:
- `GET /widget.js` size for each Accept-Encoding, and a revalidation (`If-None-Match`);
- a page load in Chromium (demo page, widget opened, one question answered): the bytes
  transferred, headers included (CDP `encodedDataLength`), cache empty each time;
- `POST /ask/stream` with `Accept-Encoding: gzip` (and br, zstd): milliseconds from the
  request to the first whole event (`passages`) and to `done`, client-side, the gap between
  the two (a layer that held events back would bring the first one with `done`: gap 0) and
  how many network reads the events came in.
Prints Markdown tables: medians, with the load average beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.servers import start_server, stop_server  # noqa: E402

QUESTION = "Qui a lancé l'Alliance Dynamique ?"
ENCODINGS = ("identity", "gzip", "br", "zstd")


def script_sizes(url: str) -> dict[str, str]:
    out = {}
    for enc in ENCODINGS:
        with httpx.stream("GET", url + "/widget.js", headers={"Accept-Encoding": enc}) as r:
            wire = sum(len(b) for b in r.iter_raw())  # as sent, not decoded
        out[enc] = f"{wire:,} ({r.headers.get('content-encoding', 'none')})"
    etag = r.headers.get("etag")
    again = httpx.get(url + "/widget.js", headers={"If-None-Match": etag or "", "Accept-Encoding": "gzip"})
    out["revalidation"] = f"{again.status_code}, {len(again.content)} bytes body"
    return out


def first_event(url: str, encoding: str) -> tuple[float, float, int]:
    """(ms to the first whole event, ms to `done`, network reads) for one streamed answer."""
    headers = {"Accept-Encoding": encoding, "Accept": "text/event-stream"}
    t0 = time.perf_counter()
    first = done = None
    reads, text = 0, ""
    with httpx.stream(
        "POST", url + "/ask/stream", json={"question": QUESTION}, headers=headers, timeout=60
    ) as r:
        for chunk in r.iter_text():  # decoded as it arrives
            reads += 1
            text += chunk
            if first is None and "\n\n" in text:
                first = (time.perf_counter() - t0) * 1000
            if "event: done" in text and done is None:
                done = (time.perf_counter() - t0) * 1000
    return first, done or (time.perf_counter() - t0) * 1000, reads


def page_load(browser, url: str) -> int:
    """Bytes transferred (headers and bodies) by a fresh page: demo page, widget, one answer."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR")
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    urls: dict[str, str] = {}
    received: dict[str, int] = {}  # bytes as they arrive (a stream the widget stops reading never "finishes")
    finished: dict[str, int] = {}  # headers and body, for a response read to its end
    ended: set[str] = set()

    def data(e: dict) -> None:
        received[e["requestId"]] = received.get(e["requestId"], 0) + int(e["encodedDataLength"])

    cdp.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))
    cdp.on("Network.dataReceived", data)
    cdp.on(
        "Network.loadingFinished", lambda e: finished.__setitem__(e["requestId"], int(e["encodedDataLength"]))
    )
    cdp.on("Network.loadingFailed", lambda e: ended.add(e["requestId"]))
    page.goto(url + "/")
    page.locator("alliance-bot-widget .launcher").click()
    page.locator("alliance-bot-widget textarea").fill(QUESTION)
    page.locator("alliance-bot-widget .send").click()
    page.locator("alliance-bot-widget .msg[data-kind]").wait_for()
    for _ in range(100):  # the stream's last bytes are counted when its loading finishes
        if any(urls.get(r, "").endswith("/ask/stream") for r in [*finished, *ended]):
            break
        page.wait_for_timeout(50)
    else:
        raise RuntimeError("the answer stream never finished loading")
    context.close()
    return sum(max(finished.get(r, 0), received.get(r, 0)) for r in urls)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    repo = Path(__file__).resolve().parent.parent
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        env = os.environ | {"ALLIANCE_INDEX_DIR": tmp}
        subprocess.run(
            [sys.executable, "-m", "bot", "ingest", str(repo / "documents")],
            env=env,
            check=True,
            capture_output=True,
        )
        servers = {
            flag: start_server(
                Path(tmp),
                repo / "documents",
                ALLIANCE_RATE_LIMIT="0",
                ALLIANCE_LOG="0",
                ALLIANCE_COMPRESS=flag,
            )
            for flag in ("0", "1")
        }
        names = {"0": "compression off", "1": "compression on"}
        streams = {(f, e): [] for f in servers for e in ("gzip", "br", "zstd")}
        pages = {f: [] for f in servers}
        try:
            sizes = {f: script_sizes(servers[f][1]) for f in servers}
            for f in servers:
                first_event(servers[f][1], "gzip")  # warm-up
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
                for f in servers:
                    page_load(browser, servers[f][1])  # warm-up
                for r in range(args.rounds):
                    for f in ("0", "1") if r % 2 == 0 else ("1", "0"):
                        url = servers[f][1]
                        for enc in ("gzip", "br", "zstd"):
                            streams[f, enc].append(first_event(url, enc))
                        if r < 5:
                            pages[f].append(page_load(browser, url))
                browser.close()
        finally:
            for proc, _ in servers.values():
                stop_server(proc)
    load = os.getloadavg()
    print(
        f"{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        "(1/5/15 min) at the end; medians.\n"
    )
    print("| GET /widget.js, bytes on the wire | " + " | ".join(names[f] for f in servers) + " |")
    print("|---|---|---|")
    for key in (*ENCODINGS, "revalidation"):
        print(f"| {key} | " + " | ".join(sizes[f][key] for f in servers) + " |")
    print(f"\n| page load (demo page + widget + one answer), n={len(pages['0'])} | bytes transferred |")
    print("|---|---|")
    for f in servers:
        print(f"| {names[f]} | {statistics.median(pages[f]):,.0f} |")
    print(
        f"\n| POST /ask/stream, n={args.rounds} each | Accept-Encoding | first event (p25-p75) "
        "| done | done - first event | reads |"
    )
    print("|---|---|---|---|---|---|")
    for (f, enc), runs in streams.items():
        firsts, dones, reads = zip(*runs, strict=True)
        q1, med, q3 = statistics.quantiles(firsts, n=4)
        done = statistics.median(dones)
        gap = statistics.median(d - f for f, d in zip(firsts, dones, strict=True))
        print(
            f"| {names[f]} | {enc} | {med:.1f} ms ({q1:.0f}-{q3:.0f}) | {done:.1f} ms | {gap:.1f} ms "
            f"| {statistics.median(reads):.0f} |"
        )


if __name__ == "__main__":
    main()
