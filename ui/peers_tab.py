"""Peers tab: what a practitioner would try instead of a language model, on the same selection and split:
a TF-IDF + logistic-regression baseline and SetFit (a small sentence encoder, contrastively fine-tuned)."""

from __future__ import annotations

import gradio as gr

from peers.config import BaselineConfig, SetfitConfig

from .common import app_defaults, config_widgets, figure_update, method_buttons, wire_method

SECTIONS = (
    ("baseline", BaselineConfig, "bl", "TF-IDF baseline",
     "Word 1–2-grams and character 2–5-grams, TF-IDF weighted, then logistic regression: seconds on a CPU, "
     "no language model. On all 27,480 real train tweets it scored 0.714."),
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
                buttons = method_buttons(prefix, f"Run {title}")
                status = gr.Markdown(elem_id=f"{prefix}-status")
                result = gr.Markdown(elem_id=f"{prefix}-result")
                cm = gr.Plot(label="Confusion matrix", visible=False)
            wire_method(method, widgets, data_fields, buttons, status, [status, result, cm], _shown(status, result, cm))
            out[method] = widgets
    return out


def _shown(status, result, cm):
    def shown(u) -> dict:
        out = {status: u.status, result: u.markdown}
        if u.finished and u.record is not None:
            out[cm] = figure_update(u.record)
        return out
    return shown
