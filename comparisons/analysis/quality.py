"""Data quality of a selection, before anything trains on it: exact and near duplicates within train and the
groups whose labels conflict, suspected label errors (cleanlab's confident learning on out-of-fold
probabilities of RAG's linear probe, k-fold over the cached embeddings), class balance, texts that are empty
after cleaning, URL-only or emoji-only, and length outliers. Each finding lists its rows and says what its
share means. Also: dropping rows from train (never the eval split) as a new selection, and suspects among the
eval labels from the finished runs' predictions."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np

from comparisons.ground.data import Split, TweetData, normalise_text
from comparisons.ground.errors import UserError

URL = re.compile(r"(https?://\S+|www\.\S+)", re.IGNORECASE)
MENTION = re.compile(r"@\w+")
MIN_ROWS = 30  # below this, k-fold probabilities (and so the suspects) mean nothing
FOLDS = 5
NEAR_THRESHOLD = 0.95
DROP_KINDS = ("suspects", "conflicts")


def clean(text: str) -> str:
    """A tweet without URLs and @mentions, whitespace folded."""
    return " ".join(MENTION.sub(" ", URL.sub(" ", text)).split())


@dataclass
class Finding:
    key: str
    title: str
    rows: list[int]  # train row indices (eval indices for eval findings)
    meaning: str
    detail: list[dict] = field(default_factory=list)  # per row or group, for the table

    def to_dict(self, n: int) -> dict:
        return {"key": self.key, "title": self.title, "n_rows": len(self.rows),
                "share": round(len(self.rows) / max(1, n), 4), "meaning": self.meaning, "rows": self.rows,
                "detail": self.detail}


def exact_duplicates(split: Split) -> tuple[list[list[int]], list[list[int]]]:
    """(groups of rows with the same normalised text, those groups whose labels differ)."""
    groups: dict[str, list[int]] = {}
    for i, t in enumerate(split.texts):
        groups.setdefault(normalise_text(t), []).append(i)
    dup = [g for g in groups.values() if len(g) > 1]
    return dup, [g for g in dup if len({split.labels[i] for i in g}) > 1]


def near_duplicates(vectors: np.ndarray, split: Split, threshold: float = NEAR_THRESHOLD, k: int = 5) -> list[tuple]:
    """Pairs (i, j, similarity), i < j, of different normalised texts whose embeddings' cosine similarity
    is at least `threshold` (FAISS, exact inner product over normalised vectors)."""
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    sims, ids = index.search(x, min(k + 1, len(x)))
    norm = [normalise_text(t) for t in split.texts]
    pairs = set()
    for i in range(len(x)):
        for s, j in zip(sims[i], ids[i]):
            if j < 0 or j == i or s < threshold or norm[i] == norm[j]:
                continue
            pairs.add((min(i, j), max(i, j), round(float(s), 4)))
    return sorted(pairs, key=lambda p: -p[2])


def out_of_fold_probs(vectors: np.ndarray, labels, n_labels: int, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Each train row's class probabilities from RAG's linear probe fitted on the other folds."""
    from sklearn.model_selection import StratifiedKFold

    from rag.classify import fit_linear

    y = np.asarray(labels)
    probs = np.zeros((len(y), n_labels))
    for fit_idx, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(vectors, y):
        clf = fit_linear(vectors[fit_idx], y[fit_idx], seed=seed)
        probs[np.ix_(held, clf.classes_)] = clf.predict_proba(vectors[held])
    return probs


def label_suspects(labels, probs) -> tuple[list[int], np.ndarray]:
    """(rows cleanlab flags as likely mislabelled, ranked most suspicious first; every row's label quality)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    y = np.asarray(labels)
    from comparisons.ground.device import pool_jobs

    # cleanlab starts a process pool by default: none inside a ZeroGPU call's daemonic worker
    ranked = find_label_issues(y, probs, return_indices_ranked_by="self_confidence", n_jobs=pool_jobs())
    return [int(i) for i in ranked], get_label_quality_scores(y, probs)


def _check_size(split: Split, n_labels: int, folds: int, what: str = "train") -> None:
    counts = np.bincount(np.asarray(split.labels), minlength=n_labels)
    if len(split) < MIN_ROWS:
        raise UserError(f"the quality report needs at least {MIN_ROWS} {what} rows for its {folds}-fold "
                        f"probabilities; this selection has {len(split)}.")
    if counts.min() < folds:
        raise UserError(f"the quality report needs at least {folds} {what} rows of every label for {folds}-fold "
                        f"cross-validation; the smallest label has {int(counts.min())}.")


def quality_report(data: TweetData, embedder: str = "auto", threshold: float = NEAR_THRESHOLD, folds: int = FOLDS,
                   seed: int = 0, max_detail: int = 200) -> dict:
    """The report on the selection's train split (see the module's docstring); findings in a fixed order."""
    from rag.embed import get_embedder

    tr = data.train
    _check_size(tr, data.n_labels, folds)
    t0 = time.perf_counter()
    names = data.label_names
    emb = get_embedder(embedder)
    vectors = emb.encode(tr.texts)
    embed_seconds = time.perf_counter() - t0
    n = len(tr)
    lab = lambda i: names[tr.labels[i]]  # noqa: E731
    findings = []

    dup, conflicts = exact_duplicates(tr)
    findings.append(Finding(
        "exact_duplicates", "Exact duplicates within train", sorted(i for g in dup for i in g[1:]),
        "rows repeating an earlier row's text (case and spaces folded): they weigh twice in training and in "
        "k-fold estimates",
        [{"rows": g, "text": tr.texts[g[0]], "labels": [lab(i) for i in g]} for g in dup[:max_detail]]))
    findings.append(Finding(
        "conflicting_duplicates", "Duplicates whose labels conflict", sorted(i for g in conflicts for i in g),
        "the same text with different labels: at most one of each group can be right, and no model can fit all",
        [{"rows": g, "text": tr.texts[g[0]], "labels": [lab(i) for i in g]} for g in conflicts[:max_detail]]))
    near = near_duplicates(vectors, tr, threshold)
    near_conflicts = [p for p in near if tr.labels[p[0]] != tr.labels[p[1]]]
    findings.append(Finding(
        "near_duplicates", f"Near duplicates within train (cosine ≥ {threshold})", sorted({p[1] for p in near}),
        "different texts that say nearly the same thing (retweets, small edits)",
        [{"rows": [i, j], "similarity": s, "texts": [tr.texts[i], tr.texts[j]], "labels": [lab(i), lab(j)]}
         for i, j, s in near[:max_detail]]))
    findings.append(Finding(
        "conflicting_near_duplicates", "Near duplicates whose labels conflict",
        sorted({i for p in near_conflicts for i in p[:2]}),
        "nearly the same text with different labels: often a coin toss between neutral and a sentiment",
        [{"rows": [i, j], "similarity": s, "texts": [tr.texts[i], tr.texts[j]], "labels": [lab(i), lab(j)]}
         for i, j, s in near_conflicts[:max_detail]]))

    t1 = time.perf_counter()
    probs = out_of_fold_probs(vectors, tr.labels, data.n_labels, folds, seed)
    suspects, quality = label_suspects(tr.labels, probs)
    probe_accuracy = float((probs.argmax(1) == np.asarray(tr.labels)).mean())
    findings.append(Finding(
        "label_suspects", "Suspected label errors (cleanlab, out-of-fold linear probe)", suspects,
        f"rows whose given label the {folds}-fold linear probe (out-of-fold accuracy {probe_accuracy:.3f}) finds "
        "unlikely, by confident learning; ranked by label quality, lowest first. Suspects, not verdicts: read them",
        [{"row": i, "text": tr.texts[i], "label": lab(i), "suggested": names[int(probs[i].argmax())],
          "label_quality": round(float(quality[i]), 4), "p_given": round(float(probs[i, tr.labels[i]]), 4)}
         for i in suspects[:max_detail]]))
    cleanlab_seconds = time.perf_counter() - t1

    counts = np.bincount(np.asarray(tr.labels), minlength=data.n_labels)
    ratio = counts.max() / max(1, counts.min())
    findings.append(Finding(
        "class_balance", "Class balance", [],
        f"largest to smallest label: {ratio:.1f}×" + (
            " — imbalanced: watch macro-F1, not only accuracy" if ratio >= 3
            else " — balanced enough for accuracy to mean much"),
        [{"label": names[c], "rows": int(counts[c]), "share": round(counts[c] / n, 4)} for c in range(data.n_labels)]))

    cleaned = [clean(t) for t in tr.texts]
    urls = [i for i, t in enumerate(tr.texts) if URL.search(t) and not clean(URL.sub(" ", t))]
    empty = [i for i, c in enumerate(cleaned) if not c and i not in set(urls)]
    emoji = [i for i, c in enumerate(cleaned) if c and not any(ch.isalnum() for ch in c)]
    for key, title, rows, meaning in (
            ("url_only", "URL-only texts", urls, "nothing but a link: no words for any method to read"),
            ("empty_after_cleaning", "Empty after removing URLs and @mentions", empty,
             "only mentions or spaces: the label rests on nothing in the text"),
            ("emoji_only", "Emoji- or symbol-only texts", emoji,
             "no letters or digits: a word-level model (TF-IDF) sees nothing, an LM sees only symbols")):
        findings.append(Finding(key, title, rows, meaning,
                                [{"row": i, "text": tr.texts[i], "label": lab(i)} for i in rows[:max_detail]]))

    words = np.array([len(t.split()) for t in tr.texts])
    q1, q3 = np.percentile(words, [25, 75])
    high = q3 + 3 * (q3 - q1)
    long_rows = [int(i) for i in np.argsort(-words) if words[i] > high]
    findings.append(Finding(
        "length_outliers", f"Length outliers (more than {high:.0f} words; median {np.median(words):.0f})", long_rows,
        "far longer than the rest: truncated by short max lengths, and they dominate few-shot prompts",
        [{"row": i, "words": int(words[i]), "text": tr.texts[i], "label": lab(i)} for i in long_rows[:max_detail]]))

    out = {"n_train": n, "n_eval": len(data.test), "label_names": names, "train_fingerprint": data.train_fingerprint,
           "embedder": emb.name, "folds": folds, "probe_accuracy": round(probe_accuracy, 4),
           "seconds": {"embed": round(embed_seconds, 2), "cleanlab": round(cleanlab_seconds, 2),
                       "total": round(time.perf_counter() - t0, 2)},
           "findings": [f.to_dict(n) for f in findings]}
    out["summary"] = summary_lines(out)
    return out


def summary_lines(report: dict) -> list[str]:
    n = report["n_train"]
    lines = []
    for f in report["findings"]:
        if f["key"] == "class_balance":
            lines.append(f"{f['title']}: " + ", ".join(f"{d['label']} {d['rows']} ({100 * d['share']:.0f} %)"
                                                       for d in f["detail"]) + f"; {f['meaning']}.")
            continue
        share = f["n_rows"] / max(1, n)
        lines.append(f"{f['title']}: {f['n_rows']} of {n} rows ({100 * share:.1f} %) — {f['meaning']}.")
    return lines


def rows_to_drop(report: dict, kinds, keep=()) -> dict[str, list[int]]:
    """{kind: train rows} for "suspects" (cleanlab's) and "conflicts" (every row of an exact-duplicate group
    whose labels conflict: nothing says which label is right), minus the rows the user chose to keep."""
    keep = {int(k) for k in keep}
    by_key = {f["key"]: f for f in report["findings"]}
    out = {}
    for kind in kinds:
        if kind not in DROP_KINDS:
            raise UserError(f"--drop takes {' or '.join(DROP_KINDS)}, got {kind!r}.")
        rows = by_key["label_suspects"]["rows"] if kind == "suspects" else by_key["conflicting_duplicates"]["rows"]
        out[kind] = [r for r in rows if r not in keep]
    return out


def eval_suspects(records, data: TweetData, top: int = 20) -> dict:
    """Suspects among the eval split's gold labels, from the finished runs' averaged probabilities (cleanlab).
    Shown, never dropped. For each run: how its accuracy would read if the top-N suspects are mislabelled, as a
    range (low: its 'right' answers on them were wrong; high: also its answers there were the true labels)."""
    done = [r for r in records if (r.predictions or {}).get("probs") and r.data.get("fingerprint") == data.fingerprint]
    if not done:
        raise UserError("no finished run on this eval split: run any method first.")
    y = np.asarray(data.test.labels)
    probs = np.mean([np.asarray(r.predictions["probs"], dtype=float) for r in done], axis=0)
    ranked, quality = label_suspects(y, probs)
    picked = ranked[:top]
    names = data.label_names
    ranges = []
    for r in done:
        pred = np.asarray(r.predictions["y_pred"])
        acc = float((pred == y).mean())
        right_on = int(sum(pred[i] == y[i] for i in picked))
        other = int(sum(pred[i] != y[i] and pred[i] == probs[i].argmax() for i in picked))
        ranges.append({"run_id": r.run_id, "label": r.label, "accuracy": round(acc, 4),
                       "if_mislabelled_low": round(acc - right_on / len(y), 4),
                       "if_mislabelled_high": round(acc - right_on / len(y) + other / len(y), 4)})
    return {"n_eval": len(y), "runs": len(done), "n_suspects": len(ranked), "top": len(picked),
            "suspects": [{"row": i, "text": data.test.texts[i], "gold": names[y[i]],
                          "suggested": names[int(probs[i].argmax())], "label_quality": round(float(quality[i]), 4)}
                         for i in picked],
            "accuracy_if_mislabelled": ranges}
