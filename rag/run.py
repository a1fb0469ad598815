"""RAG as a classifier: embed train and eval, index train in FAISS, then classify each eval tweet
by a kNN vote, by a causal LM with the retrieved neighbours as demonstrations, or by logistic
regression on the same embeddings."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from comparisons.ground.data import TweetData
from comparisons.ground.errors import UserError
from comparisons.ground.runs import RunRecord, RunStore, finish_predictions, new_record, tracked

from .classify import choose_k, fit_linear, knn_probs
from .config import RagConfig
from .index import build_index, query_latency, recall_at_k
from .retrieval import Retriever


def near_duplicates(train_vectors, test_vectors, threshold: float = 0.95, limit: int = 50) -> dict:
    """Train/test pairs whose cosine similarity is at least `threshold`."""
    index = build_index(train_vectors)
    sims, ids = index.search(np.ascontiguousarray(test_vectors), 1)
    hits = np.flatnonzero(sims[:, 0] >= threshold)
    order = hits[np.argsort(-sims[hits, 0])]
    return {"threshold": threshold, "n_pairs": int(len(hits)),
            "pairs": [{"test_index": int(j), "train_index": int(ids[j, 0]), "similarity": round(float(sims[j, 0]), 4)}
                      for j in order[:limit]]}


@dataclass
class Embedded:
    """The embed phase's output: a fitted retriever over train and the eval vectors."""

    retriever: Retriever
    test_vectors: np.ndarray
    embed_test_seconds: float


def embed_phase(config: RagConfig, data: TweetData, record: RunRecord, emit, stop) -> Embedded:
    """Embed train (indexed in FAISS) and eval, cached per (embedder, texts); timings and the
    near-duplicate and recall diagnostics into the record."""
    retriever = Retriever(config.embedder, config.index, config.backend)
    if retriever.embedder.notice:
        record.notices.append(retriever.embedder.notice)
    record.resolved["resolved_embedder"] = retriever.embedder.name
    emit({"event": "start", "run_id": record.run_id, "embedder": retriever.embedder.name,
          "notices": list(record.notices)})
    n_embedded_before, load_before = retriever.embedder.calls, retriever.embedder.load_seconds
    retriever.fit(data.train.texts, data.train.labels, on_progress=_progress(emit, "embed train"), stop=stop)
    t0 = time.perf_counter()
    test_vectors = retriever.embed(data.test.texts, on_progress=_progress(emit, "embed eval"), stop=stop)
    embed_test_seconds = time.perf_counter() - t0
    embedded = retriever.embedder.calls - n_embedded_before
    load_seconds = retriever.embedder.load_seconds - load_before  # model load / one-time ONNX export
    embed_seconds = max(retriever.timings["embed_seconds"] + embed_test_seconds - load_seconds, 1e-9)
    record.timings.update(embed_seconds=round(embed_seconds, 3), embedder_load_seconds=round(load_seconds, 3),
                          index_build_seconds=retriever.timings["index_build_seconds"],
                          embed_tweets_per_second=round(embedded / embed_seconds, 1) if embedded else None)
    record.diagnostics["cache_hit"] = embedded == 0
    record.diagnostics["near_duplicates"] = near_duplicates(retriever.vectors, test_vectors,
                                                            config.near_duplicate_threshold)
    if config.index != "flat":
        exact = build_index(retriever.vectors)
        record.diagnostics["recall_at_10"] = round(recall_at_k(retriever.index, exact, test_vectors[:1000], 10), 4)
    return Embedded(retriever, test_vectors, embed_test_seconds)


def _progress(emit, stage: str):
    return lambda done, total: emit({"event": "progress", "stage": stage, "done": done, "total": total})


def predict_knn(config: RagConfig, data: TweetData, emb: Embedded, record: RunRecord, emit, stop):
    """A similarity-weighted vote of the k nearest train tweets; k chosen on a slice of train when 0."""
    k = config.k
    if not k:
        choice = choose_k(emb.retriever.vectors, emb.retriever.labels, data.n_labels, seed=config.seed)
        k = choice["k"]
        record.diagnostics["k_selection"] = {key: v for key, v in choice.items() if key != "validation_rows"}
    sims, ids = emb.retriever.neighbours(data.test.texts, k, query_vectors=emb.test_vectors)
    labels = np.where(ids >= 0, emb.retriever.labels[np.maximum(ids, 0)], -1)
    return knn_probs(sims, labels, data.n_labels, k), k


def predict_linear(config: RagConfig, data: TweetData, emb: Embedded, record: RunRecord, emit, stop):
    """Logistic regression on the train embeddings: the no-LM baseline of retrieval features."""
    clf = fit_linear(emb.retriever.vectors, emb.retriever.labels, seed=config.seed)
    probs = np.zeros((len(data.test), data.n_labels))
    probs[:, clf.classes_] = clf.predict_proba(emb.test_vectors)
    record.trainable_params = int(clf.coef_.size + clf.intercept_.size)
    return probs, config.k


def predict_prompt(config: RagConfig, data: TweetData, emb: Embedded, record: RunRecord, emit, stop):
    """The k nearest train tweets as demonstrations to a causal LM (few-shot's retrieved selection)."""
    from fewshot.config import FewshotConfig
    from fewshot.run import FewshotClassifier

    k = config.k or 8
    fs_config = FewshotConfig(model=config.model, shots=k, selection="retrieved", template=config.template,
                              calibrate=config.calibrate, calibration=config.calibration,
                              embedder=config.embedder, seed=config.seed)
    classifier = FewshotClassifier(fs_config, data, retriever=emb.retriever)
    record.notices.extend(n for n in classifier.notices if n not in record.notices)
    scored = classifier.score(data.test.texts, query_vectors=emb.test_vectors, stop=stop,
                              on_progress=_progress(emit, "score"))
    y = np.asarray(data.test.labels)
    record.diagnostics["accuracy_uncalibrated"] = float((scored["probs_uncalibrated"].argmax(1) == y).mean())
    record.diagnostics["truncated"] = scored["truncated"]
    return scored["probs"], k


# mode -> predictor(config, data, embedded, record, emit, stop) -> (probabilities [n_eval, n_labels], k used)
PREDICTORS = {"knn": predict_knn, "linear": predict_linear, "prompt": predict_prompt}


def run(config: RagConfig, data: TweetData, *, on_event=None, stop: threading.Event | None = None,
        store: RunStore | None = None) -> RunRecord:
    """Embed, then predict with the configured mode; returns the finished RunRecord."""
    record = new_record("rag", config, data, precision=None if config.mode == "prompt" else "fp32")
    emit = on_event or (lambda e: None)
    with tracked(record, store, on_event=on_event):
        if config.k and config.k > len(data.train):
            raise UserError(f"k = {config.k} is larger than the train set ({len(data.train)} rows).")
        emb = embed_phase(config, data, record, emit, stop)
        t0 = time.perf_counter()
        probs, k = PREDICTORS[config.mode](config, data, emb, record, emit, stop)
        predict_seconds = time.perf_counter() - t0
        record.resolved["k_used"] = k
        finish_predictions(record, data.test.labels, probs, data.label_names, predict_seconds + emb.embed_test_seconds)
        latency = query_latency(emb.retriever.index, emb.test_vectors, max(1, k))
        record.timings.update(predict_seconds=round(predict_seconds, 3), **latency)
        record.diagnostics["summary"] = {"embed_seconds": record.timings["embed_seconds"],
                                         "embed_tweets_per_second": record.timings["embed_tweets_per_second"],
                                         "query_ms": latency["batched_ms_per_query"], "k": k,
                                         "cache_hit": record.diagnostics["cache_hit"],
                                         "embedder_load_seconds": record.timings["embedder_load_seconds"],
                                         "index_build_seconds": record.timings["index_build_seconds"]}
        emit({"event": "done", "accuracy": record.metrics["accuracy"], "macro_f1": record.metrics["macro_f1"]})
    return record


def explain(retriever: Retriever, text: str, k: int, label_names) -> list[dict]:
    """The nearest train tweets of one text: similarity, label and text."""
    sims, ids = retriever.neighbours([text], k)
    return [
        {"similarity": round(float(s), 4), "label": label_names[int(retriever.labels[i])], "text": retriever.texts[i]}
        for s, i in zip(sims[0], ids[0])
        if i >= 0
    ]
