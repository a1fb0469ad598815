"""Retrieval classifiers over embeddings: a similarity-weighted kNN vote (k chosen on a validation
slice of train, never on test) and logistic regression, the no-LM baseline."""
from __future__ import annotations

import numpy as np

from .index import build_index, search

K_CANDIDATES = (1, 3, 5, 7, 11, 15, 21, 31, 45, 63, 91, 127, 181)


def knn_probs(sims: np.ndarray, neighbour_labels: np.ndarray, n_labels: int, k: int) -> np.ndarray:
    """Each of the k nearest votes for its label with its cosine similarity (negatives count 0).
    Rows are normalised to probabilities; a row with no positive weight is uniform."""
    sims, labels = sims[:, :k], neighbour_labels[:, :k]
    weights = np.clip(sims, 0, None)
    votes = np.zeros((len(sims), n_labels), dtype=np.float64)
    for c in range(n_labels):
        votes[:, c] = (weights * (labels == c)).sum(1)
    total = votes.sum(1, keepdims=True)
    return np.where(total > 0, votes / np.where(total > 0, total, 1), 1.0 / n_labels)


def choose_k(train_vectors: np.ndarray, train_labels: np.ndarray, n_labels: int, *, seed: int = 42,
             val_share: float = 0.1, max_val: int = 2000, candidates=K_CANDIDATES) -> dict:
    """Hold out a slice of train, index the rest, and pick the k with the best accuracy on the slice."""
    n = len(train_labels)
    rng = np.random.RandomState(seed)
    n_val = int(min(max_val, max(1, round(n * val_share))))
    perm = rng.permutation(n)
    val, fit = perm[:n_val], perm[n_val:]
    candidates = [k for k in candidates if k <= len(fit)] or [1]
    index = build_index(train_vectors[fit])
    sims, ids = search(index, train_vectors[val], max(candidates))
    neighbour_labels = train_labels[fit][ids]
    scores = {}
    for k in candidates:
        pred = knn_probs(sims, neighbour_labels, n_labels, k).argmax(1)
        scores[k] = float((pred == train_labels[val]).mean())
    best = max(scores, key=lambda k: (scores[k], -k))
    return {"k": best, "validation_accuracy": scores, "n_validation": int(n_val), "validation_rows": val.tolist()}


def fit_linear(train_vectors: np.ndarray, train_labels: np.ndarray, *, seed: int = 42, C: float = 2.0):
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, max_iter=2000, random_state=seed)
    clf.fit(train_vectors, train_labels)
    return clf
