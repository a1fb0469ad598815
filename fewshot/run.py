"""Few-shot prompting: demonstrations in the prompt, label scoring, contextual calibration."""
from __future__ import annotations

import threading
import time

import numpy as np
import torch

from comparisons.ground.data import TweetData, normalise_text
from comparisons.ground.errors import UserError
from comparisons.ground.models import load_causal_lm, resolve_lm
from comparisons.ground.runs import RunRecord, RunStore, finish_predictions, new_record, tracked

from .config import FewshotConfig
from .prompts import CONTENT_FREE, PromptBuilder
from .scoring import batch_prior, calibrate, label_logprobs, normalise

MIN_BATCH_FOR_PRIOR = 16  # fewer texts than this give no batch prior of their own


def _balanced(labels: np.ndarray, n_labels: int, k: int, rng) -> list[int]:
    per = [k // n_labels + (1 if c < k % n_labels else 0) for c in rng.permutation(n_labels)]
    chosen = []
    for c, n in zip(range(n_labels), per):
        idx = np.flatnonzero(labels == c)
        chosen += rng.choice(idx, min(n, len(idx)), replace=False).tolist()
    return rng.permutation(chosen).tolist()


class FewshotClassifier:
    """The model, the prompt builder and the demonstrations, prepared once; `score` labels texts."""

    def __init__(self, config: FewshotConfig, data: TweetData, *, retriever=None):
        self.config, self.label_names = config, list(data.label_names)
        self.train_texts, self.train_labels = list(data.train.texts), np.asarray(data.train.labels)
        self.notices: list[str] = []
        resolved = resolve_lm(config.model)
        if resolved.notice:
            self.notices.append(resolved.notice)
        self.model_name = resolved.name
        self.model, self.tokenizer = load_causal_lm(resolved)
        window = getattr(self.model.config, "max_position_embeddings", None) or getattr(
            self.model.config, "n_positions", 1024
        )
        self.max_tokens = min(config.max_length or 1024, window)
        words = [w.strip() for w in config.label_words.split(",")] if config.label_words.strip() else self.label_names
        if len(words) != len(self.label_names):
            raise UserError(
                f"give one label word per label ({len(self.label_names)}: {', '.join(self.label_names)}), "
                f"got {len(words)}."
            )
        self.builder = PromptBuilder(
            self.tokenizer, config.template, words, self.max_tokens, config.instruction, config.example_format
        )
        if config.shots > len(self.train_texts):
            raise UserError(f"{config.shots} shots but only {len(self.train_texts)} train rows to draw them from.")
        rng = np.random.RandomState(config.seed)
        self.shared: list[int] = []
        if config.selection == "random":
            self.shared = rng.choice(len(self.train_texts), config.shots, replace=False).tolist()
        elif config.selection == "balanced":
            self.shared = _balanced(self.train_labels, len(self.label_names), config.shots, rng)
        self.retriever = retriever
        if config.selection == "retrieved" and config.shots and self.retriever is None:
            from rag.retrieval import Retriever

            self.retriever = Retriever(config.embedder).fit(self.train_texts, self.train_labels)
            if self.retriever.embedder.notice:
                self.notices.append(self.retriever.embedder.notice)

    def demonstrations(self, texts, query_vectors=None) -> list[list[int]]:
        """Train indices of each text's demonstrations; never the text itself or a duplicate of it."""
        k = self.config.shots
        if k == 0:
            return [[] for _ in texts]
        if self.config.selection == "retrieved":
            _, ids = self.retriever.neighbours(texts, k, query_vectors=query_vectors)
            return [[int(i) for i in row[::-1] if i >= 0] for row in ids]  # most similar last (KATE)
        out = []
        for t in texts:
            norm = normalise_text(t)
            out.append([i for i in self.shared if normalise_text(self.train_texts[i]) != norm])
        return out

    @property
    def _contextual(self) -> bool:
        return self.config.calibrate and self.config.calibration in ("contextual", "both")

    def _share(self) -> bool:
        """Put the demonstrations in the cached prefix? Yes when items share them; for retrieved
        ones only with contextual calibration, whose content-free prompts reuse each item's prefix."""
        return self.config.selection != "retrieved" or self._contextual

    def prompts(self, texts, demos: list[list[int]]):
        share = self._share()
        return [
            self.builder.build([(self.train_texts[i], int(self.train_labels[i])) for i in d], t, share)
            for t, d in zip(texts, demos)
        ]

    def prompt_text(self, text: str, query_vectors=None) -> str:
        demos = self.demonstrations([text], query_vectors)[0]
        return self.builder.text([(self.train_texts[i], int(self.train_labels[i])) for i in demos], text)

    def _logprobs(self, prompts, on_progress=None, stop=None):
        return label_logprobs(
            self.model,
            [(p.prefix, p.suffix) for p in prompts],
            self.builder.label_ids,
            pad_id=self.tokenizer.pad_token_id,
            batch_size=self.config.batch_size,
            use_cache=self.config.use_cache,
            length_normalise=self.config.length_normalise,
            on_batch=on_progress,
            stop=stop,
        )

    def score(self, texts, *, query_vectors=None, on_progress=None, stop=None, prior=None) -> dict:
        """Label probabilities of `texts`. With batch calibration the bias is `prior` when given (e.g. the
        one measured on the eval split, for a single tweet in Try it), else the mean over `texts` when
        there are at least MIN_BATCH_FOR_PRIOR of them, else none (uncalibrated, said in `note`)."""
        texts = list(texts)
        demos = self.demonstrations(texts, query_vectors)
        prompts = self.prompts(texts, demos)
        n = len(texts)
        # Content-free inputs under each prompt's own demonstrations, scored in the same pass so
        # that they reuse the prompt's cached prefix (shared demonstrations: three prompts in all).
        unique = list(dict.fromkeys(tuple(d) for d in demos)) if self._contextual else []
        cf_prompts = [p for d in unique for p in self.prompts(list(CONTENT_FREE), [list(d)] * len(CONTENT_FREE))]
        report = (lambda done: on_progress(min(done, n), n)) if on_progress else None
        scores = self._logprobs(prompts + cf_prompts, report, stop)
        if stop is not None and stop.is_set():
            raise InterruptedError("stopped")
        probs = normalise(scores[:n])
        cal, note, bias, cf_item = probs, None, None, None
        if self._contextual:
            cf = normalise(scores[n:]).view(len(unique), len(CONTENT_FREE), -1).mean(1)
            row_of = {d: i for i, d in enumerate(unique)}
            cf_item = cf[[row_of[tuple(d)] for d in demos]]
            cal = calibrate(probs, cf_item)
        if self.config.calibrate and self.config.calibration in ("batch", "both"):
            if prior is not None:
                bias = torch.as_tensor(prior, dtype=probs.dtype)
            elif n >= MIN_BATCH_FOR_PRIOR:
                bias = batch_prior(cal)
            else:
                note = (
                    f"batch calibration needs a prior from at least {MIN_BATCH_FOR_PRIOR} tweets; "
                    "these probabilities are not batch-calibrated."
                )
            if bias is not None:
                cal = calibrate(cal, bias)
        # content_free: each item's content-free label distribution (contextual calibration only), so
        # that every calibration can be recomputed from one scoring pass (bench/fewshot_select.py).
        return {
            "probs": cal.numpy(),
            "probs_uncalibrated": probs.numpy(),
            "demos": demos,
            "note": note,
            "content_free": cf_item.numpy() if cf_item is not None else None,
            "prior": bias.tolist() if bias is not None else None,
            "prompt_tokens": [len(p.ids()) for p in prompts],
            "truncated": sum(p.dropped > 0 for p in prompts),
            "dropped_demos": sum(p.dropped for p in prompts),
        }


def run(
    config: FewshotConfig,
    data: TweetData,
    *,
    on_event=None,
    stop: threading.Event | None = None,
    store: RunStore | None = None,
    classifier: FewshotClassifier | None = None,
) -> RunRecord:
    record = new_record("fewshot", config, data)
    emit = on_event or (lambda e: None)
    with tracked(record, store, on_event=on_event):
        clf = classifier or FewshotClassifier(config, data)
        record.notices.extend(n for n in clf.notices if n not in record.notices)
        record.resolved.update(resolved_model=clf.model_name, resolved_template=clf.builder.template)
        record.total_params = sum(p.numel() for p in clf.model.parameters())
        record.trainable_params = 0
        emit({"event": "start", "run_id": record.run_id, "model": clf.model_name, "notices": list(record.notices)})
        t0 = time.perf_counter()
        try:
            out = clf.score(
                data.test.texts,
                stop=stop,
                on_progress=lambda d, n: emit(
                    {
                        "event": "progress",
                        "done": d,
                        "total": n,
                        "tweets_per_second": round(d / max(time.perf_counter() - t0, 1e-9), 2),
                    }
                ),
            )
        except InterruptedError:
            record.status = "stopped"
            record.notices.append("Stopped by the user before every tweet was scored; no metrics.")
            return record
        seconds = time.perf_counter() - t0
        if out["note"]:
            record.notices.append(f"Only {len(data.test)} eval tweets: {out['note']}")
        y = np.asarray(data.test.labels)
        probs = out["probs"]
        finish_predictions(record, y, probs, data.label_names, seconds)
        acc_raw = float((out["probs_uncalibrated"].argmax(1) == y).mean())
        record.timings["score_seconds"] = round(seconds, 3)
        examples = [
            {
                "index": i,
                "prompt": clf.builder.text(
                    [(clf.train_texts[j], int(clf.train_labels[j])) for j in out["demos"][i]], data.test.texts[i]
                ),
                "gold": data.label_names[y[i]],
                "probs": np.round(probs[i], 4).tolist(),
            }
            for i in range(min(5, len(y)))
        ]
        if out["prior"] is not None:
            record.diagnostics["batch_prior"] = [round(float(v), 6) for v in out["prior"]]
        record.diagnostics.update(
            accuracy_uncalibrated=acc_raw,
            accuracy_calibrated=record.metrics["accuracy"] if config.calibrate else None,
            prompt_tokens_mean=round(float(np.mean(out["prompt_tokens"])), 1),
            truncated=int(out["truncated"]),
            dropped_demonstrations=int(out["dropped_demos"]),
            examples=examples,
            summary={
                "tweets_per_second": record.timings["inference_tweets_per_second"],
                "prompt_tokens_mean": round(float(np.mean(out["prompt_tokens"])), 1),
                "truncated": int(out["truncated"]),
                "accuracy_uncalibrated": round(acc_raw, 4),
                "accuracy_calibrated": round(record.metrics["accuracy"], 4) if config.calibrate else None,
                "calibration": config.calibration if config.calibrate else "none",
            },
        )
        emit({"event": "done", "accuracy": record.metrics["accuracy"], "macro_f1": record.metrics["macro_f1"]})
    return record


def sweep(
    config: FewshotConfig,
    data: TweetData,
    shots: list[int],
    *,
    on_event=None,
    stop=None,
    store: RunStore | None = None,
    on_record=None,
) -> list[RunRecord]:
    """Accuracy for several shot counts with one selection; one record per k, each also handed to
    `on_record` as it finishes. A stopped k ends the sweep."""
    if not shots:
        raise UserError("give at least one shot count for the sweep, e.g. 0,1,2,4,8,16.")
    records = []
    for k in shots:
        if stop is not None and stop.is_set():
            break
        cfg = FewshotConfig.from_dict({**config.to_dict(), "shots": k})
        record = run(cfg, data, on_event=on_event, stop=stop, store=store)
        records.append(record)
        if on_record is not None:
            on_record(record)
        if record.status != "completed":
            break
    return records
