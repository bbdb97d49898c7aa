"""Reader calibration on an answer-level question file (PIAF `dev` from answer_set.py):
a reliability table and the accuracy/refusal curve as the refusal threshold moves.

    python /work/shared/eval/answer_set.py /work/shared/bench/piaf_fr OUT 300
    .venv/bin/python -m bot --index OUT/index ingest OUT/docs
    .venv/bin/python bench/reader_calibration.py --index OUT/index --questions OUT/questions.jsonl

Every question is answered once with the threshold at 0 (so that each gets the reader's
confidence and a best answer); the tables then follow from those records. Writes
docs/reader_calibration.md and docs/reader_calibration.png, and prints the Markdown.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.answer.assistant import Assistant
from bot.config import REPO_ROOT, Settings
from bot.training.evaluate import evaluate_questions, reliability_table, threshold_curve


def markdown(records: list[dict], threshold: float, source: str) -> tuple[str, list[dict], list[dict]]:
    reliability = reliability_table(records)
    grid = sorted({round(t / 20, 2) for t in range(0, 20)} | {threshold})
    curve = threshold_curve(records, grid)
    present = sum(r["present"] for r in records)
    lines = [
        "# Reader calibration",
        "",
        f"{source}: {present} questions whose article is indexed, {len(records) - present} whose "
        "article is not. Confidence = the reader's probability for its best sentence; a question "
        "counts as right when the answer quoted at that confidence holds a gold answer (never for "
        "an absent article).",
        "",
        "## Reliability",
        "",
        "| confidence bin | questions | mean confidence | observed accuracy |",
        "|---|---:|---:|---:|",
        *(
            f"| {r['bin']} | {r['n']} | {r['mean_confidence']:.3f} | {r['observed_accuracy']:.3f} |"
            for r in reliability
        ),
        "",
        "## Accuracy and refusal as the threshold moves",
        "",
        f"The shipped threshold ({threshold}) is in bold.",
        "",
        "| threshold | answer accuracy (indexed) | answered (indexed) | refusal (absent) |",
        "|---:|---:|---:|---:|",
    ]
    for row in curve:
        cells = [
            f"{row['threshold']:.3g}",
            f"{row['answer_accuracy']:.3f}",
            f"{row['answered']:.3f}",
            f"{row['refusal']:.3f}",
        ]
        if row["threshold"] == threshold:
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n", reliability, curve


def plot(reliability: list[dict], curve: list[dict], threshold: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    left.plot(
        [r["mean_confidence"] for r in reliability],
        [r["observed_accuracy"] for r in reliability],
        marker="o",
        label="reader",
    )
    left.set(
        xlabel="predicted probability (confidence)",
        ylabel="observed accuracy",
        title="Reliability (PIAF dev)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    left.legend(loc="upper left")
    xs = [r["threshold"] for r in curve]
    right.plot(xs, [r["answer_accuracy"] for r in curve], marker=".", label="answer accuracy (indexed)")
    right.plot(xs, [r["refusal"] for r in curve], marker=".", label="refusal (absent)")
    right.axvline(threshold, color="grey", linestyle=":", label=f"shipped threshold {threshold}")
    right.set(
        xlabel="refusal threshold",
        ylabel="rate",
        title="Accuracy / refusal (PIAF dev)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    right.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs")
    args = parser.parse_args()
    assistant = Assistant(Settings(index_dir=args.index, min_confidence=0.0).answer)
    records = evaluate_questions(args.questions, assistant)["records"]
    threshold = assistant.snapshots.reader.threshold
    text, reliability, curve = markdown(records, threshold, "PIAF `dev` answer set (`answer_set.py ... 300`)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reader_calibration.md").write_text(text, encoding="utf-8")
    plot(reliability, curve, threshold, args.out / "reader_calibration.png")
    print(text)


if __name__ == "__main__":
    main()
