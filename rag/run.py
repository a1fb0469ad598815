"""RAG as a classifier: embed train and eval, index train in FAISS, then classify each eval tweet
by a kNN vote, by a causal LM with the retrieved neighbours as demonstrations, or by logistic
regression on the same embeddings."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from comparisons.config import ConfigBase, in_range, one_of
from comparisons.data import TweetData
from comparisons.errors import UserError
from comparisons.metrics import classification_metrics
from comparisons.runs import RunRecord, RunStore, new_record, tracked
from fewshot.scoring import CALIBRATIONS

from .classify import choose_k, fit_linear, knn_probs
from .index import KINDS, build_index, query_latency, recall_at_k
from .onnx_backend import VARIANTS as ONNX_VARIANTS
from .retrieval import Retriever

MODES = ("knn", "prompt", "linear")


@dataclass
class RagConfig(ConfigBase):
    embedder: str = "auto"  # sentence-transformers id, local folder, or 'auto' (MiniLM; bundled offline)
    mode: str = "knn"  # knn vote | prompt (neighbours as demonstrations to an LM) | linear (logistic regression)
    k: int = 0  # knn: neighbours that vote (0 = chosen on a validation slice of train); prompt: demonstrations (0 = 8)
    index: str = "flat"  # flat (exact) | hnsw | ivf
    backend: str = "torch"  # torch (sentence-transformers) | onnx | onnx-int8 (ONNX Runtime, rag/onnx_backend.py)
    batch_size: int = 128
    seed: int = 42
    model: str = "auto"  # prompt mode: the causal LM
    template: str = "auto"  # prompt mode: auto | plain | chat
    calibrate: bool = True  # prompt mode: calibrate the LM's label bias
    calibration: str = "batch"  # prompt mode: batch (mean over the eval tweets) | contextual (content-free inputs) | both
    near_duplicate_threshold: float = 0.95

    def __post_init__(self):
        one_of("mode", self.mode, MODES)
        one_of("index", self.index, KINDS)
        one_of("calibration", self.calibration, CALIBRATIONS)
        one_of("backend", self.backend, ("torch", *ONNX_VARIANTS))
        in_range("k", self.k, 0, 10_000)
        in_range("batch_size", self.batch_size, 1, 100_000)
        in_range("near_duplicate_threshold", self.near_duplicate_threshold, 0, 1)


def near_duplicates(train_vectors, test_vectors, threshold: float = 0.95, limit: int = 50) -> dict:
    """Train/test pairs whose cosine similarity is at least `threshold`."""
    index = build_index(train_vectors)
    sims, ids = index.search(np.ascontiguousarray(test_vectors), 1)
    hits = np.flatnonzero(sims[:, 0] >= threshold)
    order = hits[np.argsort(-sims[hits, 0])]
    return {"threshold": threshold, "n_pairs": int(len(hits)),
            "pairs": [{"test_index": int(j), "train_index": int(ids[j, 0]), "similarity": round(float(sims[j, 0]), 4)}
                      for j in order[:limit]]}


def run(config: RagConfig, data: TweetData, *, on_event=None, stop: threading.Event | None = None,
        store: RunStore | None = None) -> RunRecord:
    record = new_record("rag", config, data)
    emit = on_event or (lambda e: None)
    with tracked(record, store, on_event=on_event):
        if config.k and config.k > len(data.train):
            raise UserError(f"k = {config.k} is larger than the train set ({len(data.train)} rows).")
        retriever = Retriever(config.embedder, config.index, config.backend)
        if retriever.embedder.notice:
            record.notices.append(retriever.embedder.notice)
        record.config["resolved_embedder"] = retriever.embedder.name
        emit({"event": "start", "run_id": record.run_id, "embedder": retriever.embedder.name,
              "notices": list(record.notices)})
        progress = lambda stage: (lambda done, total: emit({"event": "progress", "stage": stage, "done": done,
                                                             "total": total}))
        n_embedded_before, load_before = retriever.embedder.calls, retriever.embedder.load_seconds
        retriever.fit(data.train.texts, data.train.labels, on_progress=progress("embed train"), stop=stop)
        t0 = time.perf_counter()
        test_vectors = retriever.embed(data.test.texts, on_progress=progress("embed eval"), stop=stop)
        embed_test_seconds = time.perf_counter() - t0
        embedded = retriever.embedder.calls - n_embedded_before
        load_seconds = retriever.embedder.load_seconds - load_before  # model load / one-time ONNX export
        embed_seconds = max(retriever.timings["embed_seconds"] + embed_test_seconds - load_seconds, 1e-9)
        record.timings.update(embed_seconds=round(embed_seconds, 3), embedder_load_seconds=round(load_seconds, 3),
                              index_build_seconds=retriever.timings["index_build_seconds"],
                              embed_tweets_per_second=round(embedded / embed_seconds, 1) if embedded else None)
        record.diagnostics["cache_hit"] = embedded == 0
        record.diagnostics["near_duplicates"] = near_duplicates(retriever.vectors, test_vectors, config.near_duplicate_threshold)
        if config.index != "flat":
            record.diagnostics["recall_at_10"] = round(recall_at_k(retriever.index, build_index(retriever.vectors),
                                                                   test_vectors[:1000], 10), 4)
        k = config.k
        t0 = time.perf_counter()
        train_labels = retriever.labels
        if config.mode == "knn":
            if not k:
                choice = choose_k(retriever.vectors, train_labels, data.n_labels, seed=config.seed)
                k = choice["k"]
                record.diagnostics["k_selection"] = {key: v for key, v in choice.items() if key != "validation_rows"}
            sims, ids = retriever.neighbours(data.test.texts, k, query_vectors=test_vectors)
            probs = knn_probs(sims, np.where(ids >= 0, train_labels[np.maximum(ids, 0)], -1), data.n_labels, k)
        elif config.mode == "linear":
            clf = fit_linear(retriever.vectors, train_labels, seed=config.seed)
            probs = np.zeros((len(data.test), data.n_labels))
            probs[:, clf.classes_] = clf.predict_proba(test_vectors)
            record.trainable_params = int(clf.coef_.size + clf.intercept_.size)
        else:
            from fewshot.run import FewshotClassifier, FewshotConfig

            k = k or 8
            fs_config = FewshotConfig(model=config.model, shots=k, selection="retrieved", template=config.template,
                                      calibrate=config.calibrate, calibration=config.calibration,
                                      embedder=config.embedder, seed=config.seed)
            classifier = FewshotClassifier(fs_config, data, retriever=retriever)
            record.notices.extend(n for n in classifier.notices if n not in record.notices)
            scored = classifier.score(data.test.texts, query_vectors=test_vectors, stop=stop,
                                      on_progress=progress("score"))
            probs = scored["probs"]
            record.diagnostics["accuracy_uncalibrated"] = float((scored["probs_uncalibrated"].argmax(1) ==
                                                                 np.asarray(data.test.labels)).mean())
            record.diagnostics["truncated"] = scored["truncated"]
        predict_seconds = time.perf_counter() - t0
        record.config["k_used"] = k
        latency = query_latency(retriever.index, test_vectors, max(1, k))
        record.timings.update(predict_seconds=round(predict_seconds, 3), **latency,
                              inference_tweets_per_second=round(len(data.test) / max(predict_seconds + embed_test_seconds, 1e-9), 1))
        y_pred = probs.argmax(1)
        record.metrics = classification_metrics(data.test.labels, y_pred, data.label_names)
        record.predictions = {"y_true": list(data.test.labels), "y_pred": y_pred.tolist(),
                              "probs": np.round(probs, 4).tolist()}
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
    return [{"similarity": round(float(s), 4), "label": label_names[int(retriever.labels[i])], "text": retriever.texts[i]}
            for s, i in zip(sims[0], ids[0]) if i >= 0]
