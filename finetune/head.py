"""Transfer learning in its textbook form: a frozen-feature probe. The language model stays frozen; each tweet,
shown in the classifier's own template ("Tweet: …\\nSentiment:"), is read once and its last token's final hidden
state (what the LM head reads to say the next word) becomes its features; only a logistic-regression head
trains on them. 0 LM weights train, against ~1 % for LoRA and 100 % for full fine-tuning.

Features are cached on disk per (model files, template, max length, texts), like the embeddings, so a study's
cells and a rerun reuse them."""
from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import numpy as np
import torch

from comparisons.ground.data import TweetData
from comparisons.ground.errors import UserError
from comparisons.ground.models import cache_root, folder_fingerprint, load_causal_lm, resolve_lm
from comparisons.ground.runs import RunRecord, RunStore, finish_predictions, new_record, tracked
from comparisons.ground.templates import render

from .config import FinetuneConfig

# Features read with right padding (each token at the same position whatever the batch); bumped when that changes.
FEATURES_VERSION = "right-padded-v2"


def _cache_path(resolved_path: str, config: FinetuneConfig, texts) -> Path:
    h = hashlib.sha256(f"{FEATURES_VERSION}|{resolved_path}|{folder_fingerprint(resolved_path) or ''}|"
                       f"{config.input_template}|{config.max_length}".encode())
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass") + b"\x00")
    return cache_root() / "features" / f"{h.hexdigest()[:24]}.npy"


def features(model, tokenizer, texts, config: FinetuneConfig, on_progress=None, stop=None) -> np.ndarray:
    """Each text's last-token final hidden state under the frozen LM, batched in length order. Right padding with
    the last real token gathered: with left padding, GPT-2's absolute positions (no position_ids given) shifted
    with each batch's longest row, so the features depended on the batch size (192 of 200 rows changed)."""
    shown = [render(config.input_template, text=" ".join(t.split())) for t in texts]
    tokenizer.truncation_side = "left"  # a long tweet keeps its end, where the template asks for the label
    ids = tokenizer(shown, truncation=True, max_length=config.max_length, add_special_tokens=False)["input_ids"]
    order = np.argsort([len(x) for x in ids], kind="stable")
    device = next(model.parameters()).device
    body = model.get_decoder() if hasattr(model, "get_decoder") else model.base_model
    out = None
    with torch.no_grad():
        for start in range(0, len(order), config.eval_batch_size):
            if stop is not None and stop.is_set():
                raise InterruptedError("stopped")
            idx = order[start: start + config.eval_batch_size]
            width = max(len(ids[i]) for i in idx)
            batch = torch.full((len(idx), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):  # right padding: each row's tokens at positions 0..n-1 whatever its batch
                batch[row, :len(ids[i])] = torch.tensor(ids[i])
                mask[row, :len(ids[i])] = 1
            states = body(input_ids=batch.to(device), attention_mask=mask.to(device)).last_hidden_state
            last = (mask.sum(dim=1) - 1).to(states.device)  # each row's last real token
            hidden = states[torch.arange(len(idx), device=states.device), last]
            if out is None:
                out = np.zeros((len(ids), hidden.shape[-1]), dtype=np.float32)
            out[idx] = hidden.float().cpu().numpy()
            if on_progress:
                on_progress(min(start + len(idx), len(order)), len(order))
    return out


def cached_features(resolved, config, texts, on_progress=None, stop=None) -> tuple[np.ndarray, bool]:
    path = _cache_path(resolved.path, config, texts)
    if path.exists():
        return np.load(path), True
    lm, tokenizer = load_causal_lm(resolved, dtype=torch.float32)
    x = features(lm, tokenizer, texts, config, on_progress, stop)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp.npy")  # concurrent writers (Ray workers)
    np.save(tmp, x)
    tmp.replace(path)
    return x, False


def run(config: FinetuneConfig, data: TweetData, *, on_event=None, stop: threading.Event | None = None,
        store: RunStore | None = None) -> RunRecord:
    """Features of train and eval from the frozen LM (cached), then a logistic-regression head on train."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    record = new_record("finetune", config, data, precision="fp32")  # the frozen LM is read in fp32
    with tracked(record, store, on_event=on_event):
        resolved = resolve_lm(config.model)
        if resolved.notice:
            record.notices.append(resolved.notice)
        record.resolved["resolved_model"] = resolved.name
        if on_event:
            on_event({"event": "start", "run_id": record.run_id, "model": resolved.name, "mode": "head",
                      "notices": list(record.notices)})
        t0 = time.perf_counter()
        progress = (lambda stage: (lambda done, total: on_event({"event": "progress", "stage": stage, "done": done,
                                                                 "total": total}))) if on_event else (lambda s: None)
        try:
            x_train, hit_train = cached_features(resolved, config, data.train.texts, progress("train features"), stop)
            t_train = time.perf_counter() - t0
            t1 = time.perf_counter()
            x_eval, hit_eval = cached_features(resolved, config, data.test.texts, progress("eval features"), stop)
        except InterruptedError:
            record.status = "stopped"
            record.notices.append("Stopped by the user while the frozen LM read the tweets; nothing was trained.")
            return record
        t_eval = time.perf_counter() - t1
        t2 = time.perf_counter()
        scaler = StandardScaler().fit(x_train)
        y = np.asarray(data.train.labels)
        if len(set(y.tolist())) < 2:
            raise UserError("the frozen-feature probe needs at least two labels in train.")
        clf = LogisticRegression(C=1.0, max_iter=2000, random_state=config.seed).fit(scaler.transform(x_train), y)
        fit_seconds = time.perf_counter() - t2
        probs = np.zeros((len(data.test), data.n_labels))
        probs[:, clf.classes_] = clf.predict_proba(scaler.transform(x_eval))
        finish_predictions(record, data.test.labels, probs, data.label_names, t_eval + 1e-9)
        record.trainable_params = int(clf.coef_.size + clf.intercept_.size)
        lm, _ = load_causal_lm(resolved, dtype=torch.float32)
        record.total_params = int(sum(p.numel() for p in lm.parameters())) + record.trainable_params
        record.timings.update(train_seconds=round(t_train + fit_seconds, 3), feature_seconds=round(t_train, 3),
                              fit_seconds=round(fit_seconds, 3), eval_seconds=round(t_eval, 3))
        record.diagnostics.update(
            features={"kind": "last-token final hidden state, frozen LM", "dim": int(x_train.shape[1]),
                      "train_from_cache": hit_train, "eval_from_cache": hit_eval},
            train_accuracy=round(float(clf.score(scaler.transform(x_train), y)), 4),
            forgetting={"text": "the language model is frozen: nothing changes, nothing is forgotten"})
        if on_event:
            on_event({"event": "done", "accuracy": record.metrics["accuracy"], "macro_f1": record.metrics["macro_f1"]})
    return record
