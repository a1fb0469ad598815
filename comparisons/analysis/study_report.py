"""What a study shows: a table of its cells (mean over seeds with a 95 % interval, time, trainable
parameters), the winner at each value and the crossover points in words, the crossover or sweep chart,
and exports. Built from a Study and its RunRecords; nothing here runs a model."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from comparisons.ground.data import display_source
from comparisons.ground.runs import RunRecord
from comparisons.ground.stats import mean_ci
from comparisons.running.study import TRAIN_SIZE, Study, StudySpec, StudyStore, display, parse_axis, parse_method

CELL_COLUMNS = ["method", "x", "x2", "seed", "train_size", "accuracy", "macro_f1", "seconds", "trainable_params",
                "run_id"]
TABLE_COLUMNS = ["method", "x", "x2", "n", "mean", "ci_low", "ci_high", "std", "interval", "seconds",
                 "trainable_params", "nodes"]


def axes_of(spec: StudySpec) -> list:
    methods = [parse_method(m) for m in spec.methods]
    return [parse_axis(a, methods) for a in (spec.axis, spec.axis2) if a]


def numeric(v, full_train: int | None = None):
    """An axis value as a number for the chart ('all' -> the train split's size), else None."""
    if isinstance(v, str) and v.strip().lower() == "all":
        return full_train
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def cell_frame(study: Study, records: dict[str, RunRecord]) -> pd.DataFrame:
    """One row per completed cell run."""
    rows = []
    for key, r in records.items():
        parts = key.split("|")
        axis_values = [p.split("=", 1)[1] for p in parts[1:-1]]
        rows.append({"method": display(parts[0]), "x": axis_values[0],
                     "x2": axis_values[1] if len(axis_values) > 1 else None,
                     "seed": int(parts[-1].split("=", 1)[1]), "train_size": r.data.get("n_train"),
                     "accuracy": r.metrics.get("accuracy"), "macro_f1": r.metrics.get("macro_f1"),
                     "seconds": r.timings.get("total_seconds"), "trainable_params": r.trainable_params,
                     "run_id": r.run_id, "n_eval": r.data.get("n_eval"),
                     "node": (r.hardware or {}).get("node") or r.host})
    return pd.DataFrame(rows, columns=[*CELL_COLUMNS, "n_eval", "node"])


def summary_table(study: Study, records: dict[str, RunRecord], metric: str | None = None) -> pd.DataFrame:
    """One row per (method, axis value[s]): mean over seeds with its 95 % interval (Student t over seeds; a
    single seed gets its run's Wilson interval over the eval tweets), mean seconds, trainable parameters.
    Rows in the spec's order of methods and values."""
    spec = StudySpec.from_dict(study.spec)
    metric = metric or spec.metric
    cells = cell_frame(study, records)
    axes = axes_of(spec)
    rows = []
    for name in spec.methods:
        for x in axes[0].values:
            for x2 in (axes[1].values if len(axes) > 1 else [None]):
                sel = cells[(cells["method"] == display(name)) & (cells["x"] == str(x))]
                if x2 is not None:
                    sel = sel[sel["x2"] == str(x2)]
                if sel.empty:
                    continue
                n_eval = int(sel["n_eval"].iloc[0] or 0)
                ci = mean_ci(sel[metric].tolist(), single_run_n=n_eval)
                params = sel["trainable_params"].dropna()
                rows.append({"method": display(name), "x": str(x), "x2": None if x2 is None else str(x2), "n": ci.n,
                             "mean": round(ci.mean, 4), "ci_low": round(ci.low, 4), "ci_high": round(ci.high, 4),
                             "std": round(ci.std, 4), "interval": ci.kind,
                             "seconds": round(float(sel["seconds"].mean()), 1),
                             "trainable_params": int(params.iloc[0]) if len(params) else None,
                             "nodes": ", ".join(sorted({str(n) for n in sel["node"] if n}))})
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table["trainable_params"] = table["trainable_params"].astype("Int64")
    return table


def display_table(table: pd.DataFrame, spec: StudySpec, where: str = "") -> pd.DataFrame:
    """The table as the app shows it: 'mean ± half-width [low, high]' and named axis columns; for a study that ran on
    Ray (`where`, as Study.where says it), the Ray nodes each row's cells ran on."""
    axes = axes_of(spec)
    shown = lambda name: name.replace("_", " ")  # noqa: E731 (a setting's name, read as words: "train size")
    out = pd.DataFrame({"method": table["method"], shown(axes[0].name): table["x"]})
    if len(axes) > 1:
        out[shown(axes[1].name)] = table["x2"]
    out["seeds"] = table["n"]
    metric = "macro-F1" if spec.metric == "macro_f1" else spec.metric
    bounds = zip(table["mean"], table["ci_low"], table["ci_high"])
    out[metric] = [f"{m:.3f} ± {(h - lo) / 2:.3f}" for m, lo, h in bounds]
    out["95 % interval"] = [f"{lo:.3f} – {h:.3f} ({k})" for lo, h, k in zip(table["ci_low"], table["ci_high"],
                                                                             table["interval"])]
    out["seconds per run"] = table["seconds"]
    out["trainable params"] = table["trainable_params"]
    if "Ray" in (where or ""):
        out["ran on (Ray nodes)"] = table["nodes"]
    return out


def _curves(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {m: g for m, g in table.groupby("method", sort=False)}


def winners(table: pd.DataFrame, spec: StudySpec) -> list[str]:
    """The best method at each value of a one-axis study, and whether the runner-up is within its interval."""
    if table.empty or spec.axis2:
        return []
    name = axes_of(spec)[0].name
    out = []
    for x, g in table.groupby("x", sort=False):
        g = g.sort_values("mean", ascending=False)
        top = g.iloc[0]
        line = f"{_x_words(name, x)}: **{top['method']}** {top['mean']:.3f} ({top['ci_low']:.3f}–{top['ci_high']:.3f})"
        if len(g) > 1:
            second = g.iloc[1]
            close = second["ci_high"] >= top["ci_low"]
            line += (f", then {second['method']} {second['mean']:.3f} "
                     + (f"(the bands overlap over {int(top['n'])} seed(s): not a clear win)" if close
                        else "(clearly behind: the bands do not overlap)"))
        out.append(line)
    return out


def _x_words(name: str, x) -> str:
    return f"at {x} labelled tweets" if name == TRAIN_SIZE else f"at {name} = {x}"


def crossovers(table: pd.DataFrame, spec: StudySpec, full_train: int | None = None) -> list[dict]:
    """Where one method's mean curve overtakes another's between two consecutive values of a one-axis study
    (in the axis's order), e.g. "LoRA overtakes RAG linear between 128 and 512 labelled tweets"."""
    if table.empty or spec.axis2:
        return []
    axis = axes_of(spec)[0]
    order = [str(v) for v in axis.values]
    keyed = {m: dict(zip(g["x"], g["mean"])) for m, g in _curves(table).items()}
    methods = list(keyed)
    out = []
    for a in methods:
        for b in methods:
            if a == b:
                continue
            xs = [x for x in order if x in keyed[a] and x in keyed[b]]
            for lo, hi in zip(xs, xs[1:]):
                before, after = keyed[a][lo] - keyed[b][lo], keyed[a][hi] - keyed[b][hi]
                if before < 0 < after:
                    unit = " labelled tweets" if axis.name == TRAIN_SIZE else ""
                    where = f"between {lo} and {hi}{unit}" if axis.name == TRAIN_SIZE else \
                        f"between {axis.name} = {lo} and {hi}"
                    out.append({"overtaking": a, "overtaken": b, "from": lo, "to": hi,
                                "text": f"{a} overtakes {b} {where} ({before * 100:+.1f} → {after * 100:+.1f} "
                                        "points)"})
    return out


def best_cell(table: pd.DataFrame) -> dict | None:
    if table.empty:
        return None
    top = table.sort_values("mean", ascending=False).iloc[0]
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in top.to_dict().items()}


def findings(study: Study, table: pd.DataFrame, full_train: int | None = None) -> list[str]:
    """The study in words: progress, winners, crossovers (one axis) or the best cell (a sweep), the widest
    interval."""
    spec = StudySpec.from_dict(study.spec)
    lines = [f"{len(study.cells)} of {study.n_cells} cells done ({study.status}); eval split {study.eval_fingerprint}, "
             f"{spec.eval_size} tweets; {spec.metric}, mean over seeds with a 95 % interval."]
    if table.empty:
        return lines
    axis = axes_of(spec)[0]
    if axis.name == TRAIN_SIZE and not spec.axis2:
        lines += [f"Winner {w}" for w in winners(table, spec)]
        cross = crossovers(table, spec, full_train)
        lines += [c["text"] for c in cross] or ["No crossover: the order of the methods' means is the same at "
                                                "every size." if len(_curves(table)) > 1 else ""]
    else:
        best = best_cell(table)
        where = f"{axis.name} = {best['x']}" + (f", {axes_of(spec)[1].name} = {best['x2']}" if best["x2"] else "")
        lines.append(f"Best cell: {best['method']} at {where}: {best['mean']:.3f} ({best['ci_low']:.3f}–"
                     f"{best['ci_high']:.3f}) over {best['n']} seeds.")
        if not spec.axis2:
            lines += [f"Best {w}" for w in winners(table, spec)]
    widest = table.assign(w=table["ci_high"] - table["ci_low"]).sort_values("w", ascending=False).iloc[0]
    lines.append(f"Widest interval: {widest['method']} at {axis.name} = {widest['x']}"
                 + (f", {widest['x2']}" if widest["x2"] else "")
                 + f": ±{(widest['ci_high'] - widest['ci_low']) / 2 * 100:.1f} points ({widest['interval']}).")
    if study.failed:
        lines.append(f"{len(study.failed)} cell(s) failed: " + "; ".join(f"{k}: {v[:120]}"
                                                                        for k, v in list(study.failed.items())[:3]))
    return [x for x in lines if x]


# ---------------------------------------------------------------- the chart


def figure(study: Study, table: pd.DataFrame, full_train: int | None = None):
    """One axis: the metric against the axis, one line per method with its 95 % band, log x for sizes and
    other wide numeric ranges, the best cell starred. Two axes: one heatmap per method, best cell boxed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = StudySpec.from_dict(study.spec)
    axes = axes_of(spec)
    full_train = full_train or study.train_rows or None
    if spec.axis2:
        return _heatmaps(plt, spec, axes, table)
    fig, ax = plt.subplots(figsize=(9, 4.4), dpi=100)
    xs_all = [numeric(v, full_train) for v in axes[0].values]
    is_numeric = all(v is not None for v in xs_all)
    positions = {str(v): (x if is_numeric else i) for i, (v, x) in enumerate(zip(axes[0].values, xs_all))}
    for method, g in _curves(table).items():
        g = g.assign(pos=[positions[x] for x in g["x"]]).sort_values("pos")
        line, = ax.plot(g["pos"], g["mean"], marker="o", label=method)
        ax.fill_between(g["pos"], g["ci_low"], g["ci_high"], alpha=0.18, color=line.get_color(), linewidth=0)
    if is_numeric and min(xs_all) > 0 and (axes[0].name == TRAIN_SIZE or max(xs_all) / min(xs_all) >= 10):
        ax.set_xscale("log")
    if not table.empty:
        ax.set_ylim(max(0.0, float(table["ci_low"].min()) - 0.03), min(1.0, float(table["ci_high"].max()) + 0.03))
    if not table.empty:
        best = best_cell(table)
        ax.plot([positions[str(best["x"])]], [best["mean"]], marker="*", markersize=16, color="gold",
                markeredgecolor="black", zorder=5, label=f"best: {best['method']} {best['mean']:.3f}")
    ax.set_xticks([positions[str(v)] for v in axes[0].values], [_tick(v, full_train) for v in axes[0].values])
    ax.minorticks_off()
    ax.set_xlabel("labelled train tweets (log scale)" if axes[0].name == TRAIN_SIZE else axes[0].name)
    ax.set_ylabel(f"{spec.metric} (mean over seeds, 95 % band)")
    ax.set_title(f"{'Crossover' if axes[0].name == TRAIN_SIZE else 'Sweep'}: {len(study.cells)}/{study.n_cells} "
                 f"cells, {spec.eval_size} eval tweets", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    plt.close(fig)
    return fig


def _tick(v, full_train):
    if isinstance(v, str) and v.lower() == "all" and full_train:
        return f"all ({full_train:,})"
    return str(v)


def _heatmaps(plt, spec, axes, table):
    methods = [display(m) for m in spec.methods]
    fig, grid = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 3.8), dpi=100, squeeze=False)
    best = best_cell(table)
    for ax, method in zip(grid[0], methods):
        values = np.full((len(axes[1].values), len(axes[0].values)), np.nan)
        g = table[table["method"] == method]
        for _, r in g.iterrows():
            i, j = [str(v) for v in axes[1].values].index(r["x2"]), [str(v) for v in axes[0].values].index(r["x"])
            values[i, j] = r["mean"]
            ax.text(j, i, f"{r['mean']:.3f}\n±{(r['ci_high'] - r['ci_low']) / 2:.3f}", ha="center", va="center",
                    fontsize=8)
            if best and r["method"] == best["method"] and r["x"] == best["x"] and r["x2"] == best["x2"]:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="gold", linewidth=3))
        ax.imshow(values, cmap="viridis", aspect="auto", alpha=0.8)
        ax.set_xticks(range(len(axes[0].values)), [str(v) for v in axes[0].values], fontsize=8)
        ax.set_yticks(range(len(axes[1].values)), [str(v) for v in axes[1].values], fontsize=8)
        ax.set_xlabel(axes[0].name)
        ax.set_ylabel(axes[1].name)
        ax.set_title(method, fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- the whole view and exports


def view(store: StudyStore, study: Study, full_train: int | None = None) -> dict:
    """Everything the Studies tab and `study --json` show of one study."""
    full_train = full_train or study.train_rows or None
    records = store.records(study)
    table = summary_table(study, records)
    return {"study": study, "records": records, "table": table, "findings": findings(study, table, full_train),
            "figure": figure(study, table, full_train), "cells": cell_frame(study, records)}


def to_json(study: Study, table: pd.DataFrame, cells: pd.DataFrame, full_train: int | None = None) -> dict:
    spec = StudySpec.from_dict(study.spec)

    def clean(df):
        return json.loads(df.to_json(orient="records"))

    widest = None
    if not table.empty:
        w = table.assign(w=table["ci_high"] - table["ci_low"]).sort_values("w", ascending=False).iloc[0]
        widest = {"method": w["method"], "x": w["x"], "x2": w["x2"], "half_width": round(float(w["w"]) / 2, 4)}
    shown = {**study.spec, "data": display_source(study.spec.get("data"))}  # exported to visitors: no server path
    return {"study_id": study.study_id, "status": study.status, "spec": shown, "n_cells": study.n_cells,
            "done": len(study.cells), "failed": study.failed, "eval_fingerprint": study.eval_fingerprint,
            "metric": spec.metric, "seconds": study.seconds, "summary": clean(table), "runs": clean(cells),
            "winners": winners(table, spec), "crossovers": crossovers(table, spec, full_train),
            "best": best_cell(table), "widest_ci": widest, "where": study.where}


def export(study: Study, table: pd.DataFrame, cells: pd.DataFrame, fig, folder: Path,
           full_train: int | None = None) -> list[str]:
    """The study's summary and runs as CSV, everything as JSON, and the chart as PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / study.study_id
    table.to_csv(f"{stem}-summary.csv", index=False)
    cells.to_csv(f"{stem}-runs.csv", index=False)
    Path(f"{stem}.json").write_text(json.dumps(to_json(study, table, cells, full_train), indent=1, default=str),
                                    encoding="utf-8")
    fig.savefig(f"{stem}.png")
    return [f"{stem}-summary.csv", f"{stem}-runs.csv", f"{stem}.json", f"{stem}.png"]
