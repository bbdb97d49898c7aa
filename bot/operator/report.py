"""The operator's report over the conversation log: volume, answered rate, feedback, latency,
unanswered questions grouped by meaning, the answers voted down, and the documents cited.

Shared by `alliance-bot report` and `GET /admin/report`; charts are SVG drawn here."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from html import escape

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sqlalchemy import Engine, select

from bot.html import html_page
from bot.operator.log.store import utcnow
from bot.operator.log.tables import answers, feedback

# Two unanswered questions belong to one group when the average cosine distance between
# the groups' query embeddings stays under this (e5-small: rewordings of one question sit
# under ~0.08, different questions on one topic around 0.15-0.25). See README, "Report".
GROUP_DISTANCE = 0.1
TOP = 10
# Query vectors of questions already grouped once, so that a report page loaded again only
# embeds the questions asked since (keyed by model object and wording; bounded).
_VECTORS: dict[tuple[int, str], np.ndarray] = {}
_VECTORS_MAX = 50_000


def parse_since(text: str) -> timedelta:
    """`7d`, `24h` or `30m`."""
    m = re.fullmatch(r"\s*(\d{1,5})\s*([dhm])\s*", text or "")
    if not m:
        raise ValueError(f"période invalide : {text!r} (exemples : 7d, 24h, 30m)")
    n, unit = int(m.group(1)), m.group(2)
    return {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}[unit]


def build_report(
    engine: Engine,
    since: timedelta,
    embedder,
    documents: dict[str, str],
    now: datetime | None = None,
    collection: str | None = None,
) -> dict:
    """Everything the report shows, as plain JSON-ready data. `documents` maps source -> title.
    One collection's answers only (`collection`, None: the default one, logged as NULL)."""
    now = now or utcnow()
    start = now - since
    query = (
        select(
            answers.c.id,
            answers.c.asked_at,
            answers.c.question,
            answers.c.status,
            answers.c.answer,
            answers.c.sources,
            answers.c.total_ms,
            feedback.c.rating,
            feedback.c.comment,
        )
        .select_from(answers.outerjoin(feedback, feedback.c.answer_id == answers.c.id))
        .where(answers.c.asked_at >= start)
        .where(answers.c.collection.is_(None) if collection is None else answers.c.collection == collection)
        .order_by(answers.c.asked_at)
    )
    with engine.connect() as db:
        rows = db.execute(query).all()

    per_day: dict[str, Counter] = defaultdict(Counter)
    # Every day from the first logged question of the period (or its start, if later) to today.
    day = max(start.date(), rows[0].asked_at.date() if rows else now.date())
    while day <= now.date():
        per_day[day.isoformat()]  # every day of the period, also the empty ones
        day += timedelta(days=1)
    latencies, unanswered, cited = [], [], Counter()
    down: dict[str, dict] = {}
    votes = Counter()
    for r in rows:
        per_day[r.asked_at.date().isoformat()][r.status] += 1
        if r.total_ms is not None:
            latencies.append(r.total_ms)
        if r.status == "no_answer":
            unanswered.append(r.question)
        for source in {s.get("source") for s in (r.sources or [])}:
            cited[source] += 1
        if r.rating is not None:
            votes["up" if r.rating > 0 else "down"] += 1
        if r.rating is not None and r.rating < 0:
            key = _normal(r.question)
            item = down.setdefault(
                key,
                {"question": r.question, "down": 0, "comments": [], "answer": r.answer, "status": r.status},
            )
            item["down"] += 1
            if r.comment:
                item["comments"].append(r.comment)
    total = len(rows)
    answered = sum(c["answered"] for c in per_day.values())
    lat = np.array(latencies) if latencies else None
    return {
        "since": start.isoformat(timespec="seconds"),
        "until": now.isoformat(timespec="seconds"),
        "questions": total,
        "answered": answered,
        "answered_rate": round(answered / total, 4) if total else None,
        "votes": {"up": votes["up"], "down": votes["down"]},
        "negative_share": round(votes["down"] / total, 4) if total else None,
        "latency_ms": {
            "p50": round(float(np.percentile(lat, 50)), 1) if lat is not None else None,
            "p95": round(float(np.percentile(lat, 95)), 1) if lat is not None else None,
        },
        "per_day": [
            {"day": d, "answered": c["answered"], "no_answer": c["no_answer"]}
            for d, c in sorted(per_day.items())
        ],
        "unanswered_groups": group_questions(unanswered, embedder),
        "most_downvoted": sorted(down.values(), key=lambda d: (-d["down"], d["question"]))[:TOP],
        "most_cited": [
            {"source": s, "title": documents.get(s, s), "citations": n} for s, n in cited.most_common(TOP)
        ],
        "never_cited": [{"source": s, "title": t} for s, t in sorted(documents.items()) if s not in cited],
    }


def group_questions(questions: list[str], embedder, distance: float = GROUP_DISTANCE) -> list[dict]:
    """Questions grouped by meaning (average-linkage clusters of their query embeddings), the
    largest first; each with its count, the most asked wording as example and a few others."""
    if not questions:
        return []
    counts: Counter = Counter()
    wording: dict[str, Counter] = defaultdict(Counter)
    for q in questions:
        key = _normal(q)
        counts[key] += 1
        wording[key][q.strip()] += 1
    keys = sorted(counts)
    if len(keys) == 1:
        labels = np.array([1])
    else:
        vectors = _query_vectors(embedder, [wording[k].most_common(1)[0][0] for k in keys])
        tree = linkage(vectors, method="average", metric="cosine")
        labels = fcluster(tree, t=distance, criterion="distance")
    groups: dict[int, list[str]] = defaultdict(list)
    for key, label in zip(keys, labels, strict=True):
        groups[int(label)].append(key)
    out = []
    for members in groups.values():
        members.sort(key=lambda k: (-counts[k], k))
        out.append(
            {
                "count": sum(counts[k] for k in members),
                "example": wording[members[0]].most_common(1)[0][0],
                "variants": [wording[k].most_common(1)[0][0] for k in members[1:4]],
                "distinct": len(members),
            }
        )
    out.sort(key=lambda g: (-g["count"], g["example"]))
    return out


def _query_vectors(embedder, texts: list[str]) -> np.ndarray:
    missing = [t for t in dict.fromkeys(texts) if (id(embedder), t) not in _VECTORS]
    if missing:
        if len(_VECTORS) + len(missing) > _VECTORS_MAX:
            _VECTORS.clear()
        for text, vector in zip(missing, embedder.encode_queries(missing), strict=True):
            _VECTORS[(id(embedder), text)] = np.asarray(vector, dtype=np.float64)
    return np.stack([_VECTORS[(id(embedder), t)] for t in texts])


def _normal(question: str) -> str:
    return " ".join(question.casefold().split()).rstrip(" ?!.")


# --- rendering ---------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f} %".replace(".", ",")


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x:.0f} ms"


def day_chart(per_day: list[dict]) -> str:
    """Questions per day, answered (blue) stacked under unanswered (orange)."""
    w, h, left, bottom, top = 360, 200, 30, 24, 12
    n = max(len(per_day), 1)
    peak = max([d["answered"] + d["no_answer"] for d in per_day] + [1])
    slot = (w - left - 6) / n
    parts = []
    for i, d in enumerate(per_day):
        x = left + i * slot + slot * 0.15
        bw = max(slot * 0.7, 1)
        y = h - bottom
        for key, colour in (("answered", "#0b3d91"), ("no_answer", "#c2410c")):
            bh = (h - bottom - top) * d[key] / peak
            if bh:
                y -= bh
                label = f"{d['day']} : {d[key]} {'répondues' if key == 'answered' else 'sans réponse'}"
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{bh:.1f}" '
                    f'fill="{colour}"><title>{escape(label)}</title></rect>'
                )
    step = max(1, round(n / 6))
    for i in range(0, len(per_day), step):
        x = left + i * slot + slot / 2
        parts.append(
            f'<text x="{x:.1f}" y="{h - 8}" font-size="11" text-anchor="middle" fill="#1b2330">'
            f"{per_day[i]['day'][8:10]}/{per_day[i]['day'][5:7]}</text>"
        )
    for y, value in ((top + 10, peak), (h - bottom, 0)):
        parts.append(
            f'<text x="{left - 4}" y="{y}" font-size="11" text-anchor="end" fill="#1b2330">{value}</text>'
        )
    parts.append(f'<line x1="{left}" y1="{h - bottom}" x2="{w - 4}" y2="{h - bottom}" stroke="#4a5568"/>')
    total = sum(d["answered"] + d["no_answer"] for d in per_day)
    label = f"Questions par jour : {total} en {len(per_day)} jours (bleu : répondues, orange : sans réponse)"
    return (
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{escape(label, quote=True)}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )


def bar_chart(items: list[tuple[str, int]], label: str) -> str:
    """Horizontal bars, the label above each bar (readable on a phone)."""
    w, row = 360, 34
    h = max(row * len(items) + 8, 20)
    peak = max([n for _, n in items] + [1])
    parts = []
    for i, (name, n) in enumerate(items):
        y = 4 + i * row
        short = name if len(name) <= 52 else name[:51] + "…"
        parts.append(f'<text x="4" y="{y + 12}" font-size="11.5" fill="#1b2330">{escape(short)}</text>')
        bw = max((w - 48) * n / peak, 2)
        parts.append(f'<rect x="4" y="{y + 16}" width="{bw:.1f}" height="12" fill="#0b3d91"/>')
        parts.append(f'<text x="{bw + 8:.1f}" y="{y + 26}" font-size="11" fill="#1b2330">{n}</text>')
    return (
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{escape(label, quote=True)}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )


def render_html(r: dict) -> str:
    e = escape
    cards = "".join(
        f'<div class="card"><b>{v}</b><span>{e(k)}</span></div>'
        for k, v in (
            ("questions", r["questions"]),
            ("répondues", _pct(r["answered_rate"])),
            ("avec un avis négatif", _pct(r["negative_share"])),
            ("latence p50", _ms(r["latency_ms"]["p50"])),
            ("latence p95", _ms(r["latency_ms"]["p95"])),
        )
    )
    groups = r["unanswered_groups"]
    group_rows = "".join(
        f'<tr><td class="num">{g["count"]}</td><td>{e(g["example"])}'
        + (f'<br><span class="meta">aussi : {e(" · ".join(g["variants"]))}</span>' if g["variants"] else "")
        + "</td></tr>"
        for g in groups[:20]
    )
    down_rows = "".join(
        f'<tr><td class="num">{d["down"]}</td><td><b>{e(d["question"])}</b>'
        f'<br><span class="meta">{e(d["answer"][:300])}</span>'
        + "".join(f'<p class="comment">{e(c)}</p>' for c in d["comments"][:5])
        + "</td></tr>"
        for d in r["most_downvoted"]
    )
    cited = bar_chart(
        [(f"{c['title']} ({c['source']})", c["citations"]) for c in r["most_cited"]],
        "Documents les plus cités",
    )
    never = "".join(
        f'<li>{e(d["title"])} <span class="meta">({e(d["source"])})</span></li>' for d in r["never_cited"]
    )
    body = (
        f'<div class="cards">{cards}</div>'
        f'<p class="meta">Avis : {r["votes"]["up"]} positifs · {r["votes"]["down"]} négatifs</p>'
        f"<h2>Questions par jour</h2>{day_chart(r['per_day'])}"
        f"<h2>Questions sans réponse, regroupées ({len(groups)} groupes)</h2>"
        + (
            f'<table><thead><tr><th class="num">Fois</th><th>Question (exemple)</th></tr></thead>'
            f"<tbody>{group_rows}</tbody></table>"
            if groups
            else "<p>Aucune.</p>"
        )
        + "<h2>Réponses jugées fausses ou inutiles (avis négatifs)</h2>"
        + (
            '<table><thead><tr><th class="num">Avis négatifs</th>'
            f"<th>Question, réponse et commentaires</th></tr></thead>"
            f"<tbody>{down_rows}</tbody></table>"
            if down_rows
            else "<p>Aucune.</p>"
        )
        + f"<h2>Documents les plus cités</h2>{cited if r['most_cited'] else '<p>Aucun.</p>'}"
        + f"<h2>Documents jamais cités</h2>{f'<ul>{never}</ul>' if never else '<p>Aucun.</p>'}"
    )
    since, until = r["since"][:16].replace("T", " "), r["until"][:16].replace("T", " ")
    return html_page("Rapport de l’assistant", body, subtitle=f"Du {e(since)} au {e(until)} (UTC)")


def render_text(r: dict) -> str:
    lines = [
        f"Du {r['since']} au {r['until']} (UTC)",
        f"{r['questions']} questions, {_pct(r['answered_rate'])} répondues, "
        f"{_pct(r['negative_share'])} avec un 👎 "
        f"({r['votes']['up']} 👍, {r['votes']['down']} 👎), latence p50 {_ms(r['latency_ms']['p50'])}, "
        f"p95 {_ms(r['latency_ms']['p95'])}",
        "",
        f"Questions sans réponse : {len(r['unanswered_groups'])} groupes",
    ]
    for g in r["unanswered_groups"][:TOP]:
        lines.append(f"  {g['count']:>4}  {g['example']}")
    if r["most_downvoted"]:
        lines += ["", "Réponses les plus souvent jugées mauvaises (👎) :"]
        for d in r["most_downvoted"]:
            lines.append(f"  {d['down']:>4}  {d['question']}")
            lines += [f"        « {c} »" for c in d["comments"][:3]]
    lines += ["", "Documents les plus cités :"]
    lines += [f"  {c['citations']:>4}  {c['source']}" for c in r["most_cited"]]
    lines += ["", f"Documents jamais cités : {len(r['never_cited'])}"]
    lines += [f"        {d['source']}" for d in r["never_cited"]]
    return "\n".join(lines)
