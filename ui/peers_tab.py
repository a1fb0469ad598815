"""Peers tab: what a practitioner would try instead of a language model, on the same selection and split:
a TF-IDF + logistic-regression baseline and SetFit (a small sentence encoder, contrastively fine-tuned)."""

from __future__ import annotations

import gradio as gr

from comparisons import report
from peers.config import BaselineConfig, SetfitConfig

from . import workers
from .common import (
    HEAVY,
    LIGHT,
    PRIVATE,
    app_defaults,
    config_widgets,
    estimate_handler,
    selected_data,
    session_key,
    split_data,
    stop_run,
    user_errors,
)

SECTIONS = (
    ("baseline", BaselineConfig, "bl", "TF-IDF baseline",
     "Word 1–2-grams and character 2–5-grams, TF-IDF weighted, then logistic regression: seconds on a CPU, "
     "no language model. On all 27,480 real train tweets it scores 0.712 (bench/RESULTS.md)."),
    ("setfit", SetfitConfig, "sf", "SetFit",
     "Contrastive fine-tuning of a small sentence encoder (the same MiniLM as RAG) on pairs drawn from the "
     "labelled tweets, then a logistic head on its embeddings (Hugging Face's `setfit`)."),
)


def build(data_fields: dict) -> dict:
    """The tab; returns {method: {field name: component}}."""
    out = {}
    with gr.Tab("Peers", id="peers"):
        gr.Markdown("What you would try **instead of** a language model, on the same tweets and eval split: every "
                    "run appears in Compare and Try it beside the others.")
        for method, cls, prefix, title, text in SECTIONS:
            with gr.Group():
                gr.Markdown(f"### {title}\n{text}")
                widgets = config_widgets(cls, prefix, app_defaults(cls))
                with gr.Row():
                    start = gr.Button(f"Run {title}", variant="primary", elem_id=f"{prefix}-start")
                    stop = gr.Button("Stop", variant="stop", elem_id=f"{prefix}-stop")
                    estimate = gr.Button("Estimate", elem_id=f"{prefix}-estimate")
                status = gr.Markdown(elem_id=f"{prefix}-status")
                result = gr.Markdown(elem_id=f"{prefix}-result")
                cm = gr.Plot(label="Confusion matrix")
            _wire(method, widgets, data_fields, start, stop, estimate, status, result, cm)
            out[method] = widgets
    return out


def _wire(method, widgets, data_fields, start, stop, estimate, status, result, cm):
    @user_errors
    def handler(request: gr.Request = None, progress=gr.Progress(), **values):
        settings, data_values = split_data(values)
        selected_data(data_values, request)
        settings["seed"] = data_values["seed"]
        workers.check_fits_zerogpu("run", method, settings, data_values)
        for u in workers.run_job("run", method, settings, data_values, session_key(request)):
            progress(u.progress[0], desc=u.progress[1])
            shown = {status: u.status, result: u.markdown}
            if u.finished and u.record is not None:
                shown[cm] = report.confusion_figure(u.record) if u.record.metrics else None
            yield shown

    handler.__name__ = f"run_{method}_ui"
    start.click(handler, inputs_kwargs={**widgets, **data_fields}, outputs=[status, result, cm], **HEAVY, **PRIVATE)
    stop.click(stop_run, None, status, queue=False, **PRIVATE)
    estimate.click(estimate_handler(method), inputs_kwargs={**widgets, **data_fields}, outputs=status, **LIGHT,
                   **PRIVATE)

