"""What the app's handlers do, without Gradio: load the data selection, stream a method's run from a
worker thread, build tables and figures, answer Try it. app.py only wires these to components."""
from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .api import Selection, make_config, run_method
from .data import TweetData, leakage_report, summary
from .errors import UserError
from .report import comparable, comparison_rows, to_csv, to_markdown
from .runs import RunRecord, RunStore

SOURCE_HUB = "Hub: mteb/tweet_sentiment_extraction"
SOURCE_SAMPLE = "Bundled sample"
SOURCE_UPLOAD = "Uploaded file"
MAX_UPLOAD_MB = 50


@dataclass
class Session:
    """Per-browser-session state that must not live in widgets: the stop event of its run."""
    stop: threading.Event = field(default_factory=threading.Event)


_SESSIONS: dict[str, Session] = {}
_LOCK = threading.Lock()


def session(key: str) -> Session:
    with _LOCK:
        return _SESSIONS.setdefault(key or "default", Session())


def runs_store() -> RunStore:
    return RunStore(os.environ.get("TPR_RUNS_DIR", "runs"))


# ---------------------------------------------------------------- data

def selection_from_ui(source: str, upload: str | None, text_column: str, label_column: str, train_size, eval_size,
                      seed, drop_leaked: bool) -> Selection:
    """The UI reads only the Hub, the bundled sample and files the user uploaded: no server paths."""
    if source == SOURCE_UPLOAD:
        if not upload:
            raise UserError("choose a file to upload first (CSV, TSV, JSONL, JSON or Parquet).")
        src = str(upload)
    elif source == SOURCE_SAMPLE:
        src = "sample"
    else:
        src = None  # the Hub dataset, or the bundled sample with a notice when offline
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise UserError(f"seed must be a whole number, got {seed!r}.") from None
    return Selection(source=src, text_column=(text_column or "").strip() or None,
                     label_column=(label_column or "").strip() or None,
                     train_size=_size(train_size), eval_size=_size(eval_size), seed=seed, drop_leaked=bool(drop_leaked),
                     default_train=1000, default_eval=300)


def _size(v):
    if v is None or str(v).strip() == "":
        return None
    return str(v).strip()


_DATA_CACHE: dict[tuple, TweetData] = {}


def load_selection(sel: Selection) -> TweetData:
    key = (sel.source, sel.text_column, sel.label_column, str(sel.train_size), str(sel.eval_size), sel.seed,
           sel.drop_leaked, _mtime(sel.source))
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = sel.load(MAX_UPLOAD_MB if sel.source not in (None, "sample") else None)
    return _DATA_CACHE[key]


def _mtime(source):
    try:
        return Path(source).stat().st_mtime if source and source != "sample" else 0
    except OSError:
        return 0


def data_overview(data: TweetData) -> dict:
    s = summary(data)
    leak = leakage_report(data)
    dist = pd.DataFrame([{"split": split, "label": label, "count": n}
                         for split, v in s["splits"].items() for label, n in v["labels"].items()])
    words = np.asarray([len(t.split()) for t in data.train.texts])
    width = max(1, int(np.ceil((words.max() + 1) / 20)))  # at most about 20 bars
    bins = words // width * width
    values, counts = np.unique(bins, return_counts=True)
    hist = pd.DataFrame({"words": [f"{v:03d}" if width == 1 else f"{v:03d}-{v + width - 1:03d}" for v in values],
                         "tweets": counts})
    leak_df = pd.DataFrame(leak["examples"], columns=["test_index", "train_index", "text", "test_label", "train_label"])
    lines = [f"**Source:** {data.source} · **labels:** {', '.join(data.label_names)} · "
             f"**eval split fingerprint:** `{data.fingerprint}`"]
    for name, v in s["splits"].items():
        L = v["length"]
        lines.append(f"- **{name}**: {v['rows']} rows; length in words: mean {L['mean']}, p95 {L['p95']}, max {L['max']}")
    lines.append(f"- **leakage**: {leak['n_leaked']} of {leak['n_test']} eval texts also appear in train "
                 f"(case and whitespace folded){' — tick *drop leaked* to remove them from train' if leak['n_leaked'] else ''}")
    return {"markdown": "\n".join(lines), "notices": list(data.notices), "distribution": dist, "lengths": hist,
            "leakage": leak_df, "summary": s, "leakage_report": leak}


def near_duplicate_table(data: TweetData, threshold: float = 0.95, embedder: str = "auto") -> pd.DataFrame:
    from rag.embed import get_embedder
    from rag.run import near_duplicates

    emb = get_embedder(embedder)
    found = near_duplicates(emb.encode(data.train.texts), emb.encode(data.test.texts), threshold)
    return pd.DataFrame([{"similarity": p["similarity"], "test text": data.test.texts[p["test_index"]],
                          "train text": data.train.texts[p["train_index"]]} for p in found["pairs"]],
                        columns=["similarity", "test text", "train text"])


# ---------------------------------------------------------------- running a method

def stream_run(method: str, values: dict, data: TweetData, stop: threading.Event, store: RunStore | None = None,
               poll: float = 0.5):
    """Run a method in a worker thread; yield (events so far, record or None, error or None) as it
    goes. The record is the finished one (completed, stopped or failed)."""
    config = make_config(method, values)  # a bad setting fails here, before any work
    store = store or runs_store()
    events: queue.Queue = queue.Queue()
    box: dict = {}

    def work():
        try:
            box["record"] = run_method(method, config, data, store=store, on_event=events.put, stop=stop)
        except UserError as e:
            box["error"] = str(e)
        except Exception as e:  # recorded as failed by the method; the app keeps serving
            box["error"] = f"{type(e).__name__}: {e}"
            box["failed"] = True

    stop.clear()
    thread = threading.Thread(target=work, daemon=True, name=f"run-{method}")
    thread.start()
    seen: list[dict] = []
    while thread.is_alive():
        thread.join(poll)
        changed = False
        while not events.empty():
            seen.append(events.get())
            changed = True
        if changed:
            yield seen, None, None
    while not events.empty():
        seen.append(events.get())
    yield seen, box.get("record"), box.get("error")


def progress_of(events: list[dict]) -> tuple[float, str]:
    """(fraction done, one status line) from the newest events."""
    for e in reversed(events):
        if e.get("max_steps"):
            frac = min(1.0, e["step"] / max(1, e["max_steps"]))
            eta = e.get("eta_seconds", 0)
            return frac, (f"step {e['step']}/{e['max_steps']} · epoch {e.get('epoch', 0):.2f} · "
                          f"{e.get('tweets_per_second', 0):.1f} tweets/s · ETA {int(eta // 60)}m{int(eta % 60):02d}s")
        if e.get("event") == "progress" and e.get("total"):
            stage = e.get("stage", "scoring")
            return e["done"] / e["total"], f"{stage}: {e['done']}/{e['total']}"
        if e.get("event") == "forgetting":
            return 1.0, "measuring forgetting (perplexity on general English)"
    return 0.0, "starting (loading the model on first use)"


def curves(history: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Loss and accuracy curves as long DataFrames (step, value, series) for line plots."""
    loss, acc = [], []
    for h in history:
        if h.get("event") == "train":
            loss.append({"step": h["step"], "value": h["loss"], "series": "train loss (running)"})
        if h.get("event") == "eval":
            loss.append({"step": h["step"], "value": h["eval_loss"], "series": "eval loss"})
            if "train_loss" in h:
                loss.append({"step": h["step"], "value": h["train_loss"], "series": "train loss (slice)"})
            acc.append({"step": h["step"], "value": h["eval_accuracy"], "series": "eval accuracy"})
            if "train_accuracy" in h:
                acc.append({"step": h["step"], "value": h["train_accuracy"], "series": "train accuracy (slice)"})
    return _typed(loss), _typed(acc)


def _typed(rows: list[dict]) -> pd.DataFrame:
    """Numeric columns stay numeric even when empty (a plot fixes its axes' types on first data)."""
    df = pd.DataFrame(rows, columns=["step", "value", "series"])
    return df.astype({"step": "int64", "value": "float64", "series": "str"})


def confusion_figure(record: RunRecord, title: str | None = None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(record.metrics.get("confusion_matrix") or [[0]])
    names = record.label_names or [str(i) for i in range(len(cm))]
    fig, ax = plt.subplots(figsize=(3.6, 3.2), dpi=100)
    ax.imshow(cm, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black", fontsize=9)
    ax.set_xticks(range(len(names)), names, rotation=30, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or record.label, fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig


def result_markdown(record: RunRecord | None, error: str | None) -> str:
    if error and record is None:
        return f"**Error:** {error}"
    if record is None:
        return ""
    m = record.metrics
    lines = [f"**{record.label}** — run `{record.run_id}` — status **{record.status}**"]
    if record.error:
        lines.append(f"**Error:** {record.error}")
    if m:
        lines.append(f"- accuracy **{m['accuracy']:.3f}**, macro-F1 **{m['macro_f1']:.3f}** on {m['n']} eval tweets "
                     f"(majority-class rate {max(np.bincount(record.predictions['y_true'])) / m['n']:.3f})")
        per = ", ".join(f"{k} {v['f1']:.2f}" for k, v in m["per_class"].items())
        lines.append(f"- per-class F1: {per}")
    t = record.timings
    if "train_seconds" in t:
        lines.append(f"- trained {t['steps']} steps in {t['train_seconds']:.0f} s ({t['tweets_per_second']:.1f} tweets/s); "
                     f"trainable parameters {record.trainable_params:,} of {record.total_params:,}")
    if "inference_tweets_per_second" in t:
        lines.append(f"- inference {t['inference_tweets_per_second']:.1f} tweets/s; peak memory {record.peak_memory_mb:.0f} MB; "
                     f"total {t.get('total_seconds', 0):.0f} s")
    d = record.diagnostics
    if "fit" in d:
        lines.append(f"- **fit: {d['fit']['verdict']}** — {d['fit']['reason']} (rule: {d['fit']['rule']})")
    if "forgetting" in d:
        f = d["forgetting"]
        extra = (f"; with the adapter disabled the model equals the base: {f['adapter_disabled_equals_base']}"
                 if "adapter_disabled_equals_base" in f else "")
        lines.append(f"- **forgetting**: perplexity on {f['text']} ({f['tokens']} tokens) {f['before']:.2f} → "
                     f"{f['after']:.2f} (×{f['ratio']:.3f}){extra}")
    if "accuracy_uncalibrated" in d and d.get("accuracy_uncalibrated") is not None:
        how = (d.get("summary") or {}).get("calibration")
        lines.append((f"- calibration: {how}; " if how and how != "none" else "- ") +
                     f"without calibration: accuracy {d['accuracy_uncalibrated']:.3f}; prompt tokens (mean) "
                     f"{d.get('prompt_tokens_mean', '-')}; prompts that dropped demonstrations: {d.get('truncated', 0)}")
    if "k_selection" in d:
        lines.append(f"- k = {d['k_selection']['k']} chosen on {d['k_selection']['n_validation']} held-out train tweets")
    if "summary" in d and record.method == "rag":
        s = d["summary"]
        rate = f"{s['embed_tweets_per_second']:.0f} tweets/s" if s.get("embed_tweets_per_second") else "served from cache"
        load = f" after loading the embedder in {s['embedder_load_seconds']:.1f} s" if s.get("embedder_load_seconds") else ""
        lines.append(f"- embedding {s['embed_seconds']:.1f} s ({rate}){load}; index built in "
                     f"{s['index_build_seconds']:.3f} s; query {s['query_ms']:.3f} ms per tweet (batched)")
    for n in record.notices:
        lines.append(f"- _{n}_")
    return "\n".join(lines)


# ---------------------------------------------------------------- compare

def compare_view(store: RunStore, fingerprint: str | None = None):
    records = store.list()
    rows, fp, fps = comparison_rows(records, fingerprint or None)
    table = pd.DataFrame(rows)
    # One bar per (run, metric), side by side: the metric is part of the bar's name.
    bars = pd.DataFrame([{"run": f"{r['label']} [{r['run_id'][-6:]}] {metric}", "metric": metric, "value": r[metric]}
                         for r in rows for metric in ("accuracy", "macro_f1") if r[metric] is not None],
                        columns=["run", "metric", "value"])
    chosen, _ = comparable(records, fp)
    return table, bars, [confusion_figure(r, f"{r.label}\n{r.run_id[-6:]}") for r in chosen[:6]], fp, fps


def export_compare(store: RunStore, fingerprint: str | None, folder: Path) -> list[str]:
    import json

    rows, fp, _ = comparison_rows(store.list(), fingerprint or None)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"csv": folder / "comparison.csv", "json": folder / "comparison.json", "md": folder / "comparison.md"}
    paths["csv"].write_text(to_csv(rows))
    paths["json"].write_text(json.dumps({"fingerprint": fp, "runs": rows}, indent=1, default=str))
    paths["md"].write_text(to_markdown(rows, fp))
    return [str(p) for p in paths.values()]


def runs_table(store: RunStore) -> pd.DataFrame:
    return pd.DataFrame([{"run_id": r.run_id, "method": r.label, "status": r.status,
                          "accuracy": round(r.metrics["accuracy"], 4) if r.metrics.get("accuracy") is not None else None,
                          "eval split": r.data.get("fingerprint"), "created": r.created_at} for r in store.list()],
                        columns=["run_id", "method", "status", "accuracy", "eval split", "created"])


# ---------------------------------------------------------------- try it

_CLASSIFIERS: dict[tuple, object] = {}


def try_it(text: str, data: TweetData, store: RunStore, k_neighbours: int = 5) -> dict:
    """Each available method's label and probabilities for one text, with RAG's neighbours and the
    few-shot prompt used. Methods come from the finished runs on this data's eval split."""
    text = (text or "").strip()
    if not text:
        raise UserError("type a tweet first.")
    text = text[:2000]
    records, _ = comparable(store.list(), data.fingerprint)
    rows, out = [], {"neighbours": [], "prompt": ""}
    names = data.label_names

    def add(method, probs):
        p = np.asarray(probs, dtype=float)
        rows.append({"method": method, "label": names[int(p.argmax())],
                     **{n: round(float(v), 3) for n, v in zip(names, p)}})

    for r in [r for r in records if r.method == "finetune" and r.artifacts.get("model_dir")][:4]:
        from finetune.saved import predict_texts

        if Path(r.artifacts["model_dir"]).exists():
            add(f"{r.label} [{r.run_id[-6:]}]", predict_texts(r.artifacts["model_dir"], [text])[0].numpy())
    fs = next((r for r in records if r.method == "fewshot"), None)
    rag = next((r for r in records if r.method == "rag"), None)
    from rag.classify import knn_probs
    from rag.run import explain

    retriever = _retriever(data, (rag.config.get("embedder") if rag else "auto") or "auto")
    k = int((rag.config.get("k_used") if rag else 0) or 15)
    sims, ids = retriever.neighbours([text], k)
    labels = np.where(ids >= 0, retriever.labels[np.maximum(ids, 0)], -1)
    add(f"rag knn k={k}", knn_probs(sims, labels, data.n_labels, k)[0])
    out["neighbours"] = explain(retriever, text, k_neighbours, names)
    if fs is not None:
        from fewshot.run import FewshotClassifier, FewshotConfig

        cfg = FewshotConfig.from_dict({k2: v for k2, v in fs.config.items() if k2 in FewshotConfig.__dataclass_fields__})
        key = ("fewshot", data.train_fingerprint, tuple(sorted(cfg.to_dict().items())))
        if key not in _CLASSIFIERS:
            _CLASSIFIERS[key] = FewshotClassifier(cfg, data, retriever=retriever if cfg.selection == "retrieved" else None)
        clf = _CLASSIFIERS[key]
        scored = clf.score([text], prior=fs.diagnostics.get("batch_prior"))
        add(fs.label, scored["probs"][0])
        out["prompt"] = clf.prompt_text(text)
    out["table"] = pd.DataFrame(rows)
    return out


def _retriever(data: TweetData, embedder: str):
    from rag.retrieval import Retriever

    key = ("retriever", data.train_fingerprint, embedder)
    if key not in _CLASSIFIERS:
        _CLASSIFIERS[key] = Retriever(embedder).fit(data.train.texts, data.train.labels)
    return _CLASSIFIERS[key]


def wait_seconds(t0: float) -> str:
    return f"{time.perf_counter() - t0:.0f} s"
