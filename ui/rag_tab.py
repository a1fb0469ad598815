"""RAG tab: FAISS retrieval over sentence embeddings, as a kNN vote, prompt demonstrations or a linear probe."""

from __future__ import annotations

import gradio as gr

from comparisons.serving import service as svc
from rag.config import RagConfig

from . import workers
from .common import (
    LIGHT,
    PRIVATE,
    Table,
    app_defaults,
    config_widgets,
    figure_update,
    method_buttons,
    selected_data,
    user_errors,
    visitor,
    wire_method,
)


def build(data_fields: dict) -> dict:
    """The tab; returns its settings widgets by config field name."""
    with gr.Tab("RAG", id="rag"):
        gr.Markdown("Embed the train tweets with a sentence-transformer, index them in FAISS, and classify each eval "
                    "tweet by its neighbours: a similarity-weighted **kNN** vote, the neighbours as **prompt** "
                    "demonstrations to an LM, or a **linear** probe on the same embeddings.")
        widgets = config_widgets(RagConfig, "rag", app_defaults(RagConfig))
        buttons = method_buttons("rag", "Run RAG")
        status = gr.Markdown(elem_id="rag-status")
        result = gr.Markdown(elem_id="rag-result")
        cm = gr.Plot(label="Confusion matrix", visible=False)
        with gr.Row():
            query = gr.Textbox(label="Neighbours of a tweet", placeholder="type a tweet", scale=4)
            look = gr.Button("Show neighbours", scale=1)
        neighbours = Table(wrap=True, max_height=300, empty="type a tweet and press Show neighbours")

    def shown(u: svc.RunUpdate) -> dict:
        out = {status: u.status, result: u.markdown}
        if u.finished and u.record is not None:
            out[cm] = figure_update(u.record)
        return out

    @user_errors
    def show(text: str, embedder: str, request: gr.Request = None, **data_values):
        selected_data(data_values, request)
        return workers.neighbours(text, embedder, data_values, visitor(request))

    wire_method("rag", widgets, data_fields, buttons, status, [status, result, cm], shown)
    look.click(show, inputs=[query, widgets["embedder"]], inputs_kwargs=data_fields, outputs=neighbours, **LIGHT,
               **PRIVATE)
    return widgets
