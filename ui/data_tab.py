"""Data tab: choose the tweets every method uses."""

from __future__ import annotations

import gradio as gr

from comparisons.analysis import report
from comparisons.ground.errors import UserError
from comparisons.serving import service as svc

from . import workers
from .common import (
    HEAVY,
    LIGHT,
    PRIVATE,
    Table,
    admit_values,
    attach_admission,
    error_text,
    heavy_turn,
    plot_rows,
    selected_data,
    user_errors,
)


def load_overview(request: gr.Request | None = None, **data_fields) -> dict:
    """What Load data shows, by name. A mistake shows as the notice and clears the overview text (it no
    longer describes the fields); the plots keep what they showed."""
    try:
        data = selected_data(data_fields, request)
    except UserError as e:
        return {"notice": error_text(e), "overview": ""}
    o = report.data_overview(data)
    return {"notice": "\n".join(f"> {n}" for n in o["notices"]), "overview": o["markdown"],
            "distribution": plot_rows(o["distribution"]), "lengths": plot_rows(o["lengths"]), "leakage": o["leakage"]}


# The quality report's columns as a person reads them (the export and the CLI keep the keys).
FINDING_HEADERS = {"label_quality": "label quality", "p_given": "p(given label)"}


def build() -> dict:
    """The tab; returns its input widgets by name (DATA_KEYS), which every method tab reads."""
    with gr.Tab("Data", id="data"):
        gr.Markdown("Choose the tweets every method will use. Runs on the same **eval split** are compared side "
                    "by side.")
        with gr.Row():
            source = gr.Radio(list(svc.SOURCES), value=svc.SOURCE_HUB, label="Source",
                              info="Offline, the Hub choice falls back to the bundled sample (said below).")
            upload = gr.File(label="Upload (CSV, TSV, JSONL, JSON, Parquet; or a zip of a dataset folder: a "
                                   "DatasetDict saved with save_to_disk, or a Hub snapshot)",
                             file_types=[".csv", ".tsv", ".jsonl", ".json", ".parquet", ".zip"], type="filepath",
                             elem_id="data-upload")
        with gr.Row():
            text_column = gr.Textbox(label="Text column", placeholder="auto: text / sentence / tweet")
            label_column = gr.Textbox(label="Label column", placeholder="auto: label / sentiment / label_text")
            train_size = gr.Textbox(label="Train size", value="", elem_id="train-size",
                                    placeholder=f"{svc.UI_DEFAULT_TRAIN} (or all, if fewer)", info="a number or 'all'")
            eval_size = gr.Textbox(label="Eval size", value="", elem_id="eval-size",
                                   placeholder=f"{svc.UI_DEFAULT_EVAL} (or all, if fewer)", info="a number or 'all'")
            seed = gr.Number(label="Seed", value=42, precision=0, info="the subsets' and every method's seed")
            drop_leaked = gr.Checkbox(label="Drop leaked train rows", value=False)
        drop_rows = gr.Textbox(label="Dropped train rows (from the quality report below; clear to keep all)", value="",
                               placeholder="none", elem_id="drop-rows",
                               info="e.g. 'suspects: 12,40; conflicts: 3,7' — train only, never the eval split")
        load = gr.Button("Load data", variant="primary", elem_id="load-data")
        notice = gr.Markdown(elem_id="data-notice")
        overview = gr.Markdown(elem_id="data-overview")
        with gr.Row():
            dist = gr.BarPlot(x="label", y="count", color="split", title="Labels per split", height=260,
                              visible=False)
            hist = gr.BarPlot(x="words", y="tweets", title="Train tweet length (words)", height=260, sort="x",
                              x_label_angle=-45, visible=False)
        leak = Table(label="Leakage: eval tweets also in train", wrap=True, max_height=240,
                     empty="no eval tweet is also in train (or no data loaded yet)", heading="None found")
        with gr.Accordion("Near duplicates (embeddings)", open=False):
            threshold = gr.Slider(0.8, 1.0, value=0.95, step=0.01, label="Cosine threshold")
            near_btn = gr.Button("Find near duplicates")
            near = Table(wrap=True, max_height=240, empty="no pair above the threshold (or not searched yet)",
                         heading="None found")
        with gr.Accordion("Data quality: duplicates, conflicting labels, suspected label errors", open=False,
                          elem_id="quality"):
            gr.Markdown("On the selection's **train** rows: exact and near duplicates and those whose labels conflict, "
                        "**suspected label errors** (cleanlab's confident learning on out-of-fold probabilities of "
                        "RAG's linear probe), class balance, empty / URL-only / emoji-only texts, length outliers. "
                        "Review the suspects, list any to keep, then drop: the result is a new selection (its own "
                        "fingerprint; the eval split is never edited) that every method then runs on.")
            quality_btn = gr.Button("Quality report", elem_id="quality-run")
            quality_summary = gr.Markdown(elem_id="quality-summary")
            finding = gr.Dropdown([], label="Finding", elem_id="quality-finding")
            finding_rows = Table(wrap=True, max_height=320, elem_id="quality-rows", max_chars=90,
                                 empty="no rows for this finding (or no report yet: press Quality report)",
                                 heading="None found")
            with gr.Row():
                keep_rows = gr.Textbox(label="Rows to keep anyway (comma-separated)", elem_id="quality-keep")
                drop_suspects = gr.Button("Drop suspected label errors", elem_id="drop-suspects")
                drop_conflicts = gr.Button("Drop conflicting duplicates", elem_id="drop-conflicts")
            report_state = gr.State(None)
    fields = dict(source=source, upload=upload, text_column=text_column, label_column=label_column,
                  train_size=train_size, eval_size=eval_size, seed=seed, drop_leaked=drop_leaked, drop_rows=drop_rows)

    shown = {"notice": notice, "overview": overview, "distribution": dist, "lengths": hist, "leakage": leak}

    def on_load(request: gr.Request = None, **data_fields):
        return {shown[k]: v for k, v in load_overview(request, **data_fields).items()}

    @user_errors
    def find_near(threshold: float, request: gr.Request = None, **data_fields):
        selected_data(data_fields, request)
        with heavy_turn(request):
            return workers.near_duplicates(threshold, data_fields)

    def finding_table(report: dict | None, key: str | None):
        import pandas as pd

        if not report or not key:
            return pd.DataFrame()
        f = next((f for f in report["findings"] if f["key"] == key), None)
        if not f:
            return pd.DataFrame()
        table = pd.DataFrame(f["detail"])
        # The labels (and the suggested label) first, the text last: it wraps and would push them off screen.
        if {"label_quality", "p_given"} <= set(table.columns) and table["label_quality"].equals(table["p_given"]):
            table = table.drop(columns="p_given")  # cleanlab's self-confidence is p(given label): one column, not two
        table = table[[c for c in table.columns if c != "text"] + (["text"] if "text" in table.columns else [])]
        return table.rename(columns=lambda c: FINDING_HEADERS.get(c, c.replace("_", " ")))

    @user_errors
    def run_quality(request: gr.Request = None, **data_fields):
        data_fields = {**data_fields, "drop_rows": ""}  # the report is on the selection before any drop
        selected_data(data_fields, request)
        with heavy_turn(request):
            report = workers.quality_report(data_fields)
        choices = [(f"{f['title']} ({f['n_rows']})", f["key"]) for f in report["findings"]]
        lines = [f"**{report['n_train']} train rows**, {report['seconds']['total']:.0f} s "
                 f"(embedder {report['embedder']}):"] + [f"- {x}" for x in report["summary"]]
        return {quality_summary: "\n".join(lines), report_state: report,
                finding: gr.update(choices=choices, value="label_suspects"),
                finding_rows: finding_table(report, "label_suspects")}

    def dropper(kind: str):
        @user_errors
        def drop(report, keep, current, request: gr.Request = None, **data_fields):
            from comparisons.analysis.quality import rows_to_drop

            if not report:
                raise UserError("run the quality report first.")
            try:
                kept = [int(k) for k in (keep or "").replace(" ", "").split(",") if k]
            except ValueError:
                raise UserError(f"rows to keep: comma-separated row numbers, got {keep!r}.") from None
            drop = {**(svc.parse_drop(current) or {}), **rows_to_drop(report, [kind], kept)}
            if not any(drop.values()):
                raise UserError("nothing to drop: the report found none (or every one is kept).")
            text = svc.drop_text(drop)
            out = {shown[k]: v for k, v in load_overview(request, **{**data_fields, "drop_rows": text}).items()}
            return {drop_rows: text, **out}
        return drop

    load.click(on_load, inputs_kwargs=fields, outputs=[notice, overview, dist, hist, leak], **LIGHT, **PRIVATE)
    # An uploaded file selects itself as the source (a newcomer who uploads and presses Load gets their file);
    # removing it goes back to the Hub dataset.
    upload.upload(lambda: svc.SOURCE_UPLOAD, None, source, queue=False, **PRIVATE)
    upload.clear(lambda: svc.SOURCE_HUB, None, source, queue=False, **PRIVATE)
    dep = quality_btn.click(run_quality, inputs_kwargs=fields,
                            outputs=[quality_summary, report_state, finding, finding_rows], **HEAVY, **PRIVATE)
    attach_admission(dep, admit_values("quality", "", claim=True), run_quality)
    finding.input(finding_table, [report_state, finding], finding_rows, **PRIVATE)
    data_only = {k: v for k, v in fields.items() if k != "drop_rows"}
    for button, kind in ((drop_suspects, "suspects"), (drop_conflicts, "conflicts")):
        button.click(dropper(kind), inputs=[report_state, keep_rows, drop_rows], inputs_kwargs=data_only,
                     outputs=[drop_rows, notice, overview, dist, hist, leak], **LIGHT, **PRIVATE)
    dep = near_btn.click(find_near, inputs=[threshold], inputs_kwargs=fields, outputs=near, **HEAVY, **PRIVATE)
    attach_admission(dep, admit_values("near", "", claim=True), find_near)
    return fields
