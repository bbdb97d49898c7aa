"""The fitting command on a tiny sample of PIAF train: it runs, and writes a valid file."""

from __future__ import annotations

import json

from bot.answer.reader.model import load_model
from bot.config import Settings
from bot.training.piaf import load_train
from bot.training.reader_fit import run_fit


def test_fit_on_a_few_train_articles_writes_loadable_params(shared_dir, embedder, tmp_path):
    piaf = shared_dir / "bench" / "piaf_fr"
    out = tmp_path / "params.json"
    model = run_fit(
        piaf,
        out,
        limit=2,
        cache=tmp_path / "cache.npz",
        embedder=embedder,
        settings=Settings(),
        log=lambda m: None,
    )
    assert load_model(out).threshold == model.threshold
    provenance = json.loads(out.read_text(encoding="utf-8"))["provenance"]
    assert provenance["articles"] == 2
    assert provenance["verifier_positives"] > 0 and provenance["selector_pairs"] > 0
    # Run again from the cache: the same bytes.
    first = out.read_bytes()
    run_fit(
        piaf,
        out,
        limit=2,
        cache=tmp_path / "cache.npz",
        embedder=embedder,
        settings=Settings(),
        log=lambda m: None,
    )
    assert out.read_bytes() == first


def test_only_train_articles_are_read(shared_dir):
    piaf = shared_dir / "bench" / "piaf_fr"
    titles, corpus, questions = load_train(piaf, None)
    lines = (piaf / "split.tsv").read_text(encoding="utf-8").splitlines()[1:]
    split = dict(line.split("\t") for line in lines)
    assert titles and all(split[t] == "train" for t in titles)
    assert all(split[d["title"]] == "train" for d in corpus.values())
    assert {q["title"] for q in questions} <= set(titles)
