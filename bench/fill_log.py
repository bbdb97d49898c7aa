"""Fill a conversation log with 1,000 real questions asked of the default corpus, then report.

    python bench/fill_log.py [--db sqlite:///tmp/alliance-log/log.sqlite] [--index DIR] [--days 14]
                             [--html FILE] [--screenshot FILE]

Questions: the shared evaluation questions (/work/shared/eval/alliance_questions.jsonl), the
off-topic ones (tests/data/offtopic_questions.jsonl) and PIAF questions (a fixed-seed sample of
/work/shared/bench/piaf_fr/queries.jsonl) to make 1,000; each is answered by the real assistant
and logged, spread over the last `--days` days. No votes are invented. Then prints the
report's unanswered groups (how many, the top five) as Markdown, and the command that
shows the whole report with `alliance-bot report`.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bot.answer.assistant import Assistant  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.embedding import load_embedder  # noqa: E402
from bot.ingest.pipeline import ingest  # noqa: E402
from bot.operator import report  # noqa: E402
from bot.operator.log import ConversationLog  # noqa: E402
from bot.operator.log.store import utcnow  # noqa: E402
from bot.operator.log.tables import answers  # noqa: E402
from bot.training.evaluate import read_jsonl  # noqa: E402

SHARED = REPO.parent / "shared"
TOTAL = 1000


def questions() -> list[str]:
    def read(path: Path, key: str) -> list[str]:
        return [q[key] for q in read_jsonl(path)]

    own = read(SHARED / "eval" / "alliance_questions.jsonl", "question")
    own += read(REPO / "tests" / "data" / "offtopic_questions.jsonl", "question")
    piaf = read(SHARED / "bench" / "piaf_fr" / "queries.jsonl", "text")
    return own + random.Random(0).sample(piaf, TOTAL - len(own))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", help="Log database URL (default: a new SQLite file in a temporary folder).")
    parser.add_argument("--index", type=Path, help="Index of the default corpus (default: built anew).")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--html", type=Path, help="Also write the report page here.")
    parser.add_argument("--screenshot", type=Path, help="Also screenshot the report page (Chromium).")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="alliance-fill-"))
    db = args.db or f"sqlite:///{work / 'log.sqlite'}"
    settings = Settings(index_dir=args.index or work / "index", documents_dir=REPO / "documents")
    embedder = load_embedder(settings.embedding)
    if args.index is None:
        ingest([settings.documents_dir], settings.index, lambda: embedder, progress=False)
    assistant = Assistant(settings.answer, embedder=embedder)
    log = ConversationLog(db, days=90)

    asked = questions()
    began = time.perf_counter()
    ids = []
    for i, question in enumerate(asked):
        answer = assistant.ask(question)
        log.record(answer, question, client=f"visitor-{i % 97}", route="/ask")
        ids.append(answer.id)
    log.flush()
    ask_seconds = time.perf_counter() - began
    now = utcnow()
    with log.engine.begin() as conn:  # spread over the period, oldest first
        for i, answer_id in enumerate(ids):
            when = now - timedelta(days=args.days) + timedelta(days=args.days) * (i + 0.5) / len(ids)
            conn.execute(update(answers).where(answers.c.id == answer_id).values(asked_at=when))

    began = time.perf_counter()
    data = report.build_report(
        log.engine,
        timedelta(days=args.days + 1),
        embedder,
        {d.source: d.title for d in assistant.index.documents.values()},
    )
    report_seconds = time.perf_counter() - began
    log.close()
    groups = data["unanswered_groups"]
    unanswered = data["questions"] - data["answered"]
    print(f"| measure | value |\n|---|---|\n| questions logged | {data['questions']} |")
    print(f"| answered | {data['answered']} ({data['answered_rate'] * 100:.1f} %) |")
    print(f"| unanswered | {unanswered} |")
    print(
        f"| unanswered groups | {len(groups)} (of which {sum(g['count'] > 1 for g in groups)} with 2+ "
        "questions) |"
    )
    print(f"| asking 1,000 questions | {ask_seconds:.1f} s |")
    print(f"| building the report | {report_seconds:.1f} s |")
    print("\n| # | questions | example | also |\n|---|---|---|---|")
    for n, g in enumerate(groups[:5], start=1):
        print(f"| {n} | {g['count']} | {g['example']} | {' · '.join(g['variants'][:2])} |")
    if args.html or args.screenshot:
        page = args.html or work / "report.html"
        page.write_text(report.render_html(data), encoding="utf-8")
    if args.screenshot:
        screenshot(page, args.screenshot)
    print(
        f"\nThe whole report: ALLIANCE_INDEX_DIR={settings.index_dir} ALLIANCE_DATABASE_URL={db} "
        f"python -m bot report --since {args.days + 1}d"
    )


def screenshot(page: Path, target: Path) -> None:
    code = (
        "from playwright.sync_api import sync_playwright\n"
        "from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS\n"
        "with sync_playwright() as p:\n"
        "    b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)\n"
        "    pg = b.new_page(viewport={'width': 1000, 'height': 900})\n"
        f"    pg.goto({page.resolve().as_uri()!r})\n"
        f"    pg.screenshot(path={str(target)!r}, full_page=True)\n"
        "    b.close()\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


if __name__ == "__main__":
    main()
