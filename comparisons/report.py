"""The side-by-side comparison built from RunRecords: rows, CSV, Markdown and plots."""
from __future__ import annotations

import csv
import io

from .runs import RunRecord

COLUMNS = ["run_id", "label", "method", "status", "accuracy", "macro_f1", "per_class_f1", "train_seconds",
           "inference_tweets_per_second", "trainable_params", "total_params", "peak_memory_mb",
           "overfitting", "gap_loss", "forgetting", "n_train", "n_eval"]


def row(record: RunRecord) -> dict:
    m, t, d = record.metrics, record.timings, record.diagnostics
    fit, forget = d.get("fit", {}), d.get("forgetting", {})
    per_class = m.get("per_class", {})
    return {
        "run_id": record.run_id, "label": record.label, "method": record.method, "status": record.status,
        "accuracy": _r(m.get("accuracy")), "macro_f1": _r(m.get("macro_f1")),
        "per_class_f1": " ".join(f"{k}:{v['f1']:.3f}" for k, v in per_class.items()),
        "train_seconds": _r(t.get("train_seconds", t.get("fit_seconds")), 1),
        "inference_tweets_per_second": _r(t.get("inference_tweets_per_second"), 1),
        "trainable_params": record.trainable_params, "total_params": record.total_params,
        "peak_memory_mb": _r(record.peak_memory_mb, 0),
        "overfitting": fit.get("verdict", ""), "gap_loss": _r(fit.get("final_gap_loss")),
        "forgetting": f"{forget['before']:.2f} -> {forget['after']:.2f}" if "after" in forget else "",
        "n_train": record.data.get("n_train"), "n_eval": record.data.get("n_eval"),
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
    cols = ["label", "status", "accuracy", "macro_f1", "train_seconds", "inference_tweets_per_second",
            "trainable_params", "peak_memory_mb", "overfitting", "forgetting"]
    lines = [f"Runs on eval split {fingerprint or '-'}", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join("" if r[c] is None else str(r[c]) for c in cols) + " |")
    if not rows:
        lines.append("| (no finished runs) |" + " |" * (len(cols) - 1))
    return "\n".join(lines)
