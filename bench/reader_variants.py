"""The reader's variant table: each feature set fitted on the same PIAF train readings, then
measured on the answer-level PIAF set, the Alliance questions (shared, and the project's own
paraphrased and English ones, bench/data/alliance_probe.jsonl) and questions to refuse.

    python bench/reader_variants.py --groups FILE --piaf-index DIR --piaf-questions FILE

FILE comes from `alliance-bot reader fit --groups FILE` (the readings are collected once; a
variant refits in seconds). The indexes of documents/ and ../shared/seed are built in a
temporary folder, once with token vectors stored and once without (computed when asked).
Prints one row per variant and corpus: accuracy / answered / refusal and the p50 of the
whole `ask` in milliseconds, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bot.answer.assistant import Assistant  # noqa: E402
from bot.config import REPO_ROOT, Settings  # noqa: E402
from bot.embedding import load_embedder  # noqa: E402
from bot.ingest.pipeline import ingest  # noqa: E402
from bot.training.evaluate import evaluate_questions  # noqa: E402
from bot.training.reader_fit import VARIANTS, fit_model, load_groups  # noqa: E402

SHARED = REPO_ROOT.parent / "shared"
PROBE = REPO_ROOT / "bench" / "data" / "alliance_probe.jsonl"
OFFTOPIC = REPO_ROOT / "tests" / "data" / "offtopic_questions.jsonl"


def question_sets(folder: Path) -> dict[str, Path]:
    """The probe split by kind: French answerable, English answerable, to refuse."""
    rows = [json.loads(line) for line in PROBE.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows += [json.loads(line) for line in OFFTOPIC.read_text(encoding="utf-8").splitlines() if line.strip()]
    parts = {
        "own FR": [r for r in rows if r["answers"] and r["lang"] == "fr"],
        "own EN": [r for r in rows if r["answers"] and r["lang"] == "en"],
        "to refuse": [r for r in rows if not r["answers"]],
    }
    out = {"shared": SHARED / "eval" / "alliance_questions.jsonl"}
    for name, part in parts.items():
        path = folder / f"{name.replace(' ', '-')}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part), encoding="utf-8")
        out[name] = path
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=Path, required=True)
    parser.add_argument("--piaf-index", type=Path)
    parser.add_argument("--piaf-questions", type=Path)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    args = parser.parse_args()

    settings = Settings()
    embedder = load_embedder(settings.embedding)
    groups, facts = load_groups(args.groups)
    work = Path(tempfile.mkdtemp(prefix="reader-variants-"))
    sets = question_sets(work)
    corpora = {}
    for name, folder in (("documents/", REPO_ROOT / "documents"), ("seed", SHARED / "seed")):
        for stored in (True, False):
            config = settings.model_copy(
                update={
                    "index_dir": work / f"{name.strip('/')}-{stored}",
                    "token_vectors_max": settings.token_vectors_max if stored else 0,
                }
            )
            ingest([folder], config.index, lambda: embedder, progress=False)
            corpora[(name, stored)] = config

    rows = []
    for variant in args.variants:
        model, _ = fit_model(groups, facts, settings.embedding.model, variant)
        params = work / f"{variant}.json"
        params.write_text(json.dumps(model.to_json(), ensure_ascii=False), encoding="utf-8")
        for (name, stored), config in corpora.items():
            assistant = Assistant(
                config.model_copy(update={"reader_params": params}).answer, embedder=embedder
            )
            for set_name, path in sets.items():
                if not stored and set_name != "shared":
                    continue  # computed vectors: the same answers, only the time differs
                m = evaluate_questions(path, assistant)
                rows.append((variant, f"{name} {'stored' if stored else 'computed'}", set_name, m))
        if args.piaf_index is not None:
            config = settings.model_copy(update={"index_dir": args.piaf_index, "reader_params": params})
            m = evaluate_questions(args.piaf_questions, Assistant(config.answer, embedder=embedder))
            rows.append((variant, "PIAF answer level", "300 + 300", m))

    print(f"\nload average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print("| variant | corpus | questions | accuracy | answered | refusal | short: given, EM, F1 | p50 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for variant, corpus, set_name, m in rows:
        short = f"{m.get('short_answer_share')} / {m.get('short_answer_em')} / {m.get('short_answer_f1')}"
        print(
            f"| {variant} | {corpus} | {set_name} | {m.get('answer_accuracy')} | {m.get('answered_rate')} | "
            f"{m.get('refusal_rate')} | {short} | {m.get('latency_ms_p50')} |"
        )


if __name__ == "__main__":
    main()
