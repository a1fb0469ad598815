"""Data tab: choose the tweets every method uses."""

from __future__ import annotations

import gradio as gr

from comparisons import report
from comparisons import service as svc
from comparisons.errors import UserError

from . import workers
from .common import HEAVY, LIGHT, PRIVATE, error_text, selected_data, user_errors


def load_overview(request: gr.Request | None = None, **data_fields) -> dict:
    """What Load data shows, by name. A mistake shows as the notice and clears the overview text (it no
    longer describes the fields); the plots keep what they showed."""
    try:
        data = selected_data(data_fields, request)
    except UserError as e:
        return {"notice": error_text(e), "overview": ""}
    o = report.data_overview(data)
    return {"notice": "\n".join(f"> {n}" for n in o["notices"]), "overview": o["markdown"],
            "distribution": o["distribution"], "lengths": o["lengths"], "leakage": o["leakage"]}


def build() -> dict:
    """The tab; returns its input widgets by name (DATA_KEYS), which every method tab reads."""
    with gr.Tab("Data", id="data"):
        gr.Markdown("Choose the tweets every method will use. Runs on the same **eval split** are compared side "
                    "by side.")
        with gr.Row():
            source = gr.Radio(list(svc.SOURCES), value=svc.SOURCE_HUB, label="Source",
                              info="Offline, the Hub choice falls back to the bundled sample (said below).")
            upload = gr.File(label="Upload (CSV, TSV, JSONL, JSON, Parquet)",
                             file_types=[".csv", ".tsv", ".jsonl", ".json", ".parquet"], type="filepath")
        with gr.Row():
            text_column = gr.Textbox(label="Text column", placeholder="auto: text / sentence / tweet")
            label_column = gr.Textbox(label="Label column", placeholder="auto: label / sentiment / label_text")
            train_size = gr.Textbox(label="Train size", value="", elem_id="train-size",
                                    placeholder=f"{svc.UI_DEFAULT_TRAIN} (or all, if fewer)", info="a number or 'all'")
            eval_size = gr.Textbox(label="Eval size", value="", elem_id="eval-size",
                                   placeholder=f"{svc.UI_DEFAULT_EVAL} (or all, if fewer)", info="a number or 'all'")
            seed = gr.Number(label="Seed", value=42, precision=0, info="the subsets' and every method's seed")
            drop_leaked = gr.Checkbox(label="Drop leaked train rows", value=False)
        load = gr.Button("Load data", variant="primary", elem_id="load-data")
        notice = gr.Markdown(elem_id="data-notice")
        overview = gr.Markdown(elem_id="data-overview")
        with gr.Row():
            dist = gr.BarPlot(x="label", y="count", color="split", title="Labels per split", height=260)
            hist = gr.BarPlot(x="words", y="tweets", title="Train tweet length (words)", height=260, sort="x")
        leak = gr.Dataframe(label="Leakage: eval tweets also in train", wrap=True, max_height=240)
        with gr.Accordion("Near duplicates (embeddings)", open=False):
            threshold = gr.Slider(0.8, 1.0, value=0.95, step=0.01, label="Cosine threshold")
            near_btn = gr.Button("Find near duplicates")
            near = gr.Dataframe(wrap=True, max_height=240)
    fields = dict(source=source, upload=upload, text_column=text_column, label_column=label_column,
                  train_size=train_size, eval_size=eval_size, seed=seed, drop_leaked=drop_leaked)

    shown = {"notice": notice, "overview": overview, "distribution": dist, "lengths": hist, "leakage": leak}

    def on_load(request: gr.Request = None, **data_fields):
        return {shown[k]: v for k, v in load_overview(request, **data_fields).items()}

    @user_errors
    def find_near(threshold: float, request: gr.Request = None, **data_fields):
        selected_data(data_fields, request)
        return workers.near_duplicates(threshold, data_fields)

    load.click(on_load, inputs_kwargs=fields, outputs=[notice, overview, dist, hist, leak], **LIGHT, **PRIVATE)
    near_btn.click(find_near, inputs=[threshold], inputs_kwargs=fields, outputs=near, **HEAVY, **PRIVATE)
    return fields
