"""Presentation, built from RunRecords and TweetData: the side-by-side rows, CSV/JSON/Markdown exports,
confusion figures, the compare view, learning curves, the data overview and each method's result text.
The app and the CLI show what these return; nothing here runs a model."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from comparisons.ground import registry
from comparisons.ground.data import TweetData, display_source, leakage_report, summary
from comparisons.ground.errors import UserError
from comparisons.ground.runs import RunRecord, RunStore
from comparisons.ground.stats import accuracy_interval, paired_records, wilson
from comparisons.ground.templates import plain

LM_FAMILIES = ("tune", "prompt", "retrieve")  # the language-model methods the peers are weighed against

COLUMNS = ["run_id", "label", "method", "status", "accuracy", "accuracy_low", "accuracy_high", "macro_f1",
           "per_class_f1", "train_seconds",
           "inference_tweets_per_second", "trainable_params", "total_params", "peak_memory_mb",
           "overfitting", "gap_loss", "forgetting", "n_train", "n_eval", "hardware", "precision", "peak_gpu_mb",
           "peak_rss_mb", "estimate_mb", "estimate_seconds", "total_seconds"]


def row(record: RunRecord) -> dict:
    m, t, d = record.metrics, record.timings, record.diagnostics
    fit, forget = d.get("fit", {}), d.get("forgetting", {})
    per_class = m.get("per_class", {})
    ci = accuracy_interval(record) or (None, None)
    return {
        "run_id": record.run_id, "label": record.label, "method": record.method, "status": record.status,
        "accuracy": _r(m.get("accuracy")), "accuracy_low": _r(ci[0]), "accuracy_high": _r(ci[1]),
        "macro_f1": _r(m.get("macro_f1")),
        "per_class_f1": " ".join(f"{k}:{v['f1']:.3f}" for k, v in per_class.items()),
        "train_seconds": _r(t.get("train_seconds", t.get("fit_seconds")), 1),
        "inference_tweets_per_second": _r(t.get("inference_tweets_per_second"), 1),
        "trainable_params": record.trainable_params, "total_params": record.total_params,
        "peak_memory_mb": _r(record.peak_memory_mb, 0),
        "overfitting": fit.get("verdict", ""), "gap_loss": _r(fit.get("final_gap_loss")),
        "forgetting": f"{forget['before']:.2f} -> {forget['after']:.2f}" if "after" in forget else "",
        "n_train": record.data.get("n_train"), "n_eval": record.data.get("n_eval"),
        "hardware": record.hardware.get("gpu", record.device), "precision": record.hardware.get("precision"),
        "peak_gpu_mb": _r(d.get("memory", {}).get("peak_cuda_mb"), 0),
        "peak_rss_mb": _r(d.get("memory", {}).get("peak_rss_mb"), 0),
        "estimate_mb": d.get("estimate", {}).get("memory_mb"),
        "estimate_seconds": _r(d.get("estimate", {}).get("seconds"), 1),
        "total_seconds": _r(t.get("total_seconds"), 1),
    }


def _r(v, digits: int = 4):
    return None if v is None else round(float(v), digits)


def fingerprints(records: list[RunRecord]) -> list[str]:
    seen = []
    for r in records:
        fp = r.data.get("fingerprint")
        if fp and fp not in seen:
            seen.append(fp)
    return seen


def comparable(records: list[RunRecord], fingerprint: str | None = None) -> tuple[list[RunRecord], str | None]:
    """Finished runs on one eval split (the newest run's, unless named)."""
    done = [r for r in records if r.status in ("completed", "stopped") and r.metrics]
    fps = fingerprints(done)
    fp = fingerprint or (fps[0] if fps else None)
    return [r for r in done if r.data.get("fingerprint") == fp], fp


def comparison_rows(records: list[RunRecord], fingerprint: str | None = None):
    chosen, fp = comparable(records, fingerprint)
    return [row(r) for r in chosen], fp, fingerprints(records)


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def to_markdown(rows: list[dict], fingerprint: str | None = None) -> str:
    rows = [{**r, "accuracy 95% CI": "" if r.get("accuracy_low") is None else
             f"{r['accuracy_low']:.3f}–{r['accuracy_high']:.3f}"} for r in rows]
    cols = ["label", "status", "accuracy", "accuracy 95% CI", "macro_f1", "train_seconds",
            "inference_tweets_per_second",
            "trainable_params", "peak_memory_mb", "overfitting", "forgetting"]
    lines = [f"Runs on eval split {fingerprint or '-'}", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join("" if r[c] is None else str(r[c]) for c in cols) + " |")
    if not rows:
        lines.append("| (no finished runs) |" + " |" * (len(cols) - 1))
    return "\n".join(lines)


# ---------------------------------------------------------------- figures and views


def confusion_figure(record: RunRecord, title: str | None = None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(record.metrics.get("confusion_matrix") or [[0]])
    names = record.label_names or [str(i) for i in range(len(cm))]
    fig, ax = plt.subplots(figsize=(3.6, 3.6), dpi=100)  # square: a gallery's cells are square
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


def figure_png(fig, folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cm.png"
    fig.savefig(path)
    return str(path)


# What a person reads first in Compare, with readable headers; every column of COLUMNS is in the export.
SHOWN_COLUMNS = ["Run", "Accuracy (95 % CI)", "Macro-F1", "Time", "Tweets/s scored", "Fit", "Forgetting", "Status"]


def short_name(label: str, run_id: str, width: int = 28) -> str:
    """'finetune lora r=8 [3f2a1c]', the label cut to fit a chart's axis."""
    cut = label if len(label) <= width else label[: width - 1] + "…"
    return f"{cut} [{run_id[-6:]}]"


def duration_text(v) -> str:
    """A duration as people read it: '4.2 s', '37 s', '2.5 min'; '' when unknown."""
    if v is None:
        return ""
    return f"{v / 60:.1f} min" if v >= 90 else f"{v:.1f} s" if v < 10 else f"{v:.0f} s"


def accuracy_text(accuracy, low=None, high=None) -> str:
    """'0.812 (0.781–0.840)': an accuracy with its 95 % interval where known; '' when there is none."""
    if accuracy is None:
        return ""
    return f"{accuracy:.3f}" + (f" ({low:.3f}–{high:.3f})" if low is not None and high is not None else "")


def shown_table(rows: list[dict]) -> pd.DataFrame:
    """Compare's table: one row per run, the columns a person reads first (best first)."""
    out = []
    for r in sorted(rows, key=lambda r: r["accuracy"] if r["accuracy"] is not None else -1, reverse=True):
        out.append({"Run": f"{r['label']} [{r['run_id'][-6:]}]",
                    "Accuracy (95 % CI)": accuracy_text(r["accuracy"], r["accuracy_low"], r["accuracy_high"]),
                    "Macro-F1": "" if r["macro_f1"] is None else f"{r['macro_f1']:.3f}",
                    "Time": duration_text(r["total_seconds"] if r["total_seconds"] is not None else r["train_seconds"]),
                    "Tweets/s scored": "" if r["inference_tweets_per_second"] is None else
                    f"{r['inference_tweets_per_second']:.0f}",
                    "Fit": r["overfitting"] or "", "Forgetting": r["forgetting"] or "", "Status": r["status"]})
    return pd.DataFrame(out, columns=SHOWN_COLUMNS)


def compare_view(store: RunStore, fingerprint: str | None = None):
    """(the shown table, bar rows best first, confusion figures of up to 6 runs, the fingerprint shown, every
    fingerprint)."""
    records = store.list()
    rows, fp, fps = comparison_rows(records, fingerprint or None)
    table = shown_table(rows)
    # One bar per (run, metric), side by side: the metric is part of the bar's name; best accuracy first.
    ranked = sorted(rows, key=lambda r: r["accuracy"] if r["accuracy"] is not None else -1, reverse=True)
    bars = pd.DataFrame([{"run": f"{short_name(r['label'], r['run_id'], 22)} {'F1' if metric == 'macro_f1' else 'acc'}",
                          "metric": "macro-F1" if metric == "macro_f1" else "accuracy", "value": r[metric]}
                         for r in ranked for metric in ("accuracy", "macro_f1") if r[metric] is not None],
                        columns=["run", "metric", "value"])
    chosen, _ = comparable(records, fp)
    chosen = sorted(chosen, key=lambda r: r.metrics.get("accuracy") or 0, reverse=True)
    return table, bars, [confusion_figure(r, short_name(r.label, r.run_id)) for r in chosen[:6]], fp, fps


def export_compare(store: RunStore, fingerprint: str | None, folder: Path) -> list[str]:
    rows, fp, _ = comparison_rows(store.list(), fingerprint or None)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"csv": folder / "comparison.csv", "json": folder / "comparison.json", "md": folder / "comparison.md"}
    paths["csv"].write_text(to_csv(rows))
    paths["json"].write_text(json.dumps({"fingerprint": fp, "runs": rows}, indent=1, default=str))
    paths["md"].write_text(to_markdown(rows, fp))
    return [str(p) for p in paths.values()]


def model_state(record: RunRecord) -> str:
    """'saved (540 MB)', 'model evicted' (the disk cap took it; the record stays) or '' (none saved)."""
    if record.artifacts.get("model_evicted"):
        return "model evicted"
    from comparisons.ground.disk import saved_model

    if saved_model(record) is not None:
        size = record.artifacts.get("model_bytes")
        return f"saved ({size / 2**20:.0f} MB)" if size else "saved"
    return ""


def runs_table(store: RunStore) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Run": r.label,
                "Id": r.run_id,
                "Status": r.status,
                "Accuracy": f"{r.metrics['accuracy']:.3f}" if r.metrics.get("accuracy") is not None else "",
                "Eval split": r.data.get("fingerprint"),
                "Saved model": model_state(r),
                "Created": str(r.created_at or "")[:16].replace("T", " "),
            }
            for r in store.list()
        ],
        columns=["Run", "Id", "Status", "Accuracy", "Eval split", "Saved model", "Created"],
    )


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


def sweep_points(records: list[RunRecord]) -> pd.DataFrame:
    """Accuracy against shots for a k-sweep: calibrated and, where measured, raw."""
    points = []
    for r in records:
        if not r.metrics:
            continue
        calibrated = bool(r.config.get("calibrate"))
        points.append(
            {
                "shots": r.config.get("shots"),
                "accuracy": r.metrics.get("accuracy"),
                "calibration": "calibrated" if calibrated else "raw",
            }
        )
        if calibrated and r.diagnostics.get("accuracy_uncalibrated") is not None:
            points.append(
                {
                    "shots": r.config.get("shots"),
                    "accuracy": r.diagnostics["accuracy_uncalibrated"],
                    "calibration": "raw",
                }
            )
    return pd.DataFrame(points, columns=["shots", "accuracy", "calibration"])


def times_text(ratio: float) -> str:
    """12 -> '12x', 1.4 -> '1.4x', 0.02 -> '1/50 of'."""
    if ratio >= 10:
        return f"{ratio:.0f}x"
    if ratio >= 0.95:
        return f"{ratio:.1f}x"
    return f"1/{1 / max(ratio, 1e-9):.0f} of"


def charged_seconds(r: RunRecord, done: list[RunRecord]) -> tuple[float, str]:
    """A run's time with the work a cache served added back, so that two runs are charged for the same work: a
    RAG run whose embeddings came from the cache is charged the embedding time another run on the same tweets
    and embedder measured. (seconds, what was added, in words)."""
    seconds = r.timings.get("total_seconds") or 0.0
    if not r.diagnostics.get("cache_hit"):
        return seconds, ""
    payer = next((p for p in done if p is not r and not p.diagnostics.get("cache_hit")
                  and p.timings.get("embed_seconds") and p.data.get("fingerprint") == r.data.get("fingerprint")
                  and p.data.get("n_train") == r.data.get("n_train")
                  and p.resolved.get("resolved_embedder") == r.resolved.get("resolved_embedder")), None)
    if payer is None:
        return seconds, "its embeddings came from the cache, so its time leaves embedding out"
    added = payer.timings["embed_seconds"]
    return seconds + added, (f"counting the {duration_text(added)} of embedding that the cache served it, as measured "
                             f"by {payer.label} [{payer.run_id[-6:]}]")


def peer_verdicts(records: list[RunRecord]) -> list[str]:
    """What each language-model method buys over the TF-IDF baseline and over SetFit, in accuracy and time,
    among finished runs on one eval split with the same number of labelled train tweets. Both sides are charged
    for the same work (embeddings a cache served are counted), and a cache that served one is named."""
    done = [r for r in records if r.metrics and r.status in ("completed", "stopped")]
    lines = []
    lm = {m.name for m in registry.of_family(*LM_FAMILIES)}
    for peer_method in registry.of_family("peer"):
        name = peer_method.called
        for r in [r for r in done if r.method in lm]:
            peer = next((p for p in done if p.method == peer_method.name and p.data.get("fingerprint") ==
                         r.data.get("fingerprint") and p.data.get("n_train") == r.data.get("n_train")), None)
            if peer is None:
                continue
            gap = 100 * (r.metrics["accuracy"] - peer.metrics["accuracy"])
            mine, note = charged_seconds(r, done)
            theirs, _ = charged_seconds(peer, done)
            cost = mine / max(theirs, 1e-9)
            if abs(gap) < 0.05:
                head = f"{r.label} matches {name}"
            else:
                word, to = ("buys", "over") if gap > 0 else ("loses", "to")
                head = f"{r.label} {word} {abs(gap):.1f} points {to} {name}"
            lines.append(f"{head} ({r.metrics['accuracy']:.3f} vs {peer.metrics['accuracy']:.3f} on "
                         f"{r.data.get('n_train')} labelled tweets) at {times_text(cost)} its time"
                         + (f" ({note})." if note else "."))
    return lines


def handicaps(record: RunRecord) -> list[str]:
    """Why a run may rank below what its method can do: its plan, not the method."""
    out = []
    if record.status == "stopped":
        out.append("was stopped before it finished")
    method = registry.find(record.method)
    if method is not None:
        out += method.handicaps(record)
    return out


def comparison_verdict(records: list[RunRecord], max_pairs: int = 6) -> list[str]:
    """The runs on one eval split in words: the winner; its gap to each other run with the paired test (a
    bootstrap interval and McNemar's exact test); runs handicapped by their plan; whether the data is too
    small or too easy for the ranking to mean much."""
    done = [r for r in records if r.metrics and (r.predictions or {}).get("y_pred")]
    if not done:
        return []
    ranked = sorted(done, key=lambda r: r.metrics["accuracy"], reverse=True)
    top = ranked[0]
    n = len(top.predictions["y_true"])
    lo, hi = wilson(round(top.metrics["accuracy"] * n), n)
    lines = [f"Winner: **{top.label}** [{top.run_id[-6:]}], accuracy {top.metrics['accuracy']:.3f} (95 % CI "
             f"{lo:.3f}–{hi:.3f})."]
    for other in ranked[1:max_pairs]:
        try:
            lines.append(paired_records(top, other).verdict().replace(top.label, f"{top.label} [{top.run_id[-6:]}]", 1)
                         .replace(f"− {other.label}", f"− {other.label} [{other.run_id[-6:]}]", 1))
        except UserError:
            continue
    for r in ranked:
        why = handicaps(r)
        if why:
            lines.append(f"Handicapped by its plan: {r.label} [{r.run_id[-6:]}] " + "; ".join(why) + ".")
    half = (hi - lo) / 2
    if n < 1000:
        lines.append(f"Only {n} eval tweets: one run's 95 % interval is about ±{100 * half:.1f} points, so gaps "
                     "smaller "
                     "than that are noise unless the paired test says otherwise.")
    if top.data.get("source") == "sample":
        lines.append("This is the bundled sample: short tweet-like texts written to be easy, so every method scores "
                     "high and the ranking says little. Measure on the real tweets (Data tab: the Hub dataset or your "
                     "file).")
    return lines


def guide_figures(records: list[RunRecord]) -> dict[str, str]:
    """The Guide's concepts, each with the newest of the visitor's runs that measures it, in words."""
    done = [r for r in records if r.status in ("completed", "stopped")]
    out: dict[str, str] = {}

    def newest(pred):
        return next((r for r in done if pred(r)), None)

    for method in registry.all_methods():  # what each method's own runs show (forgetting, calibration, ...)
        out.update(method.findings(done, newest))
    leaked = newest(lambda r: "leak" in " ".join(r.notices).lower())
    if leaked is not None:
        out["Data leakage"] = f"your run [{leaked.run_id[-6:]}] dropped leaked train rows: " + next(
            n for n in leaked.notices if "leak" in n.lower())
    return out


# ---------------------------------------------------------------- data overview


def data_overview(data: TweetData) -> dict:
    s = summary(data)
    leak = leakage_report(data)
    dist = pd.DataFrame(
        [
            {"split": split, "label": label, "count": n}
            for split, v in s["splits"].items()
            for label, n in v["labels"].items()
        ]
    )
    words = np.asarray([len(t.split()) for t in data.train.texts])
    width = max(1, int(np.ceil((words.max() + 1) / 12)))  # at most 12 bars, so that their labels fit
    bins = words // width * width
    values, counts = np.unique(bins, return_counts=True)
    digits = len(str(int(values.max()) + width))  # zero-padded: the chart sorts its labels as text
    hist = pd.DataFrame(
        {"words": [f"{v:0{digits}d}" if width == 1 else f"{v:0{digits}d}–{v + width - 1:0{digits}d}" for v in values],
         "tweets": counts}
    )
    leak_df = pd.DataFrame(leak["examples"], columns=["test_index", "train_index", "text", "test_label", "train_label"])
    lines = [
        f"**Source:** {plain(display_source(data.source), 120)} · **labels:** "
        f"{', '.join(plain(n, 40) for n in data.label_names)} · "
        f"**eval split fingerprint:** `{data.fingerprint}`"
    ]
    for name, v in s["splits"].items():
        L = v["length"]
        lines.append(
            f"- **{name}**: {v['rows']} rows; length in words: mean {L['mean']}, p95 {L['p95']}, max {L['max']}"
        )
    hint = " — tick *drop leaked* to remove them from train" if leak["n_leaked"] else ""
    lines.append(
        f"- **leakage**: {leak['n_leaked']} of {leak['n_test']} eval texts also appear in train "
        f"(case and whitespace folded){hint}"
    )
    return {
        "markdown": "\n".join(lines),
        "notices": list(data.notices),
        "distribution": dist,
        "lengths": hist,
        "leakage": leak_df,
        "summary": {**s, "source": display_source(s.get("source"))},  # shown to visitors: never a server path
        "leakage_report": leak,
    }


# ---------------------------------------------------------------- a run's result, in words


def result_markdown(record: RunRecord | None, error: str | None) -> str:
    """A run's result for the app: the head shared by every method, then the method's own lines."""
    if error and record is None:
        return f"**Error:** {error}"
    if record is None:
        return ""
    lines = [f"**{record.label}** — run `{record.run_id}` — status **{record.status}**"]
    if record.error:
        lines.append(f"**Error:** {record.error}")
    m = record.metrics
    if m:
        majority = max(np.bincount(record.predictions["y_true"])) / m["n"]
        lines.append(
            f"- accuracy **{m['accuracy']:.3f}**, macro-F1 **{m['macro_f1']:.3f}** on {m['n']} eval tweets "
            f"(majority-class rate {majority:.3f})"
        )
        lines.append("- per-class F1: " + ", ".join(f"{k} {v['f1']:.2f}" for k, v in m["per_class"].items()))
    method = registry.find(record.method)
    lines += method.result_lines(record) if method is not None else []
    est = record.diagnostics.get("estimate")
    if est:
        lines.append(f"- estimated before the run: peak {est['memory_mb']:,} MB, {est['seconds']:.0f} s; measured: "
                     f"peak {est.get('measured_peak_mb') or 0:,.0f} MB ({est.get('measured_on', '')}), "
                     f"{est.get('measured_seconds') or 0:.0f} s")
    lines += [f"- _{n}_" for n in record.notices]
    return "\n".join(lines)


