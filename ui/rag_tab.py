"""RAG tab: FAISS retrieval over sentence embeddings, as a kNN vote, prompt demonstrations or a linear probe."""

from __future__ import annotations

import gradio as gr

from comparisons import report
from rag.config import RagConfig

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


def build(data_fields: dict) -> dict:
    """The tab; returns its settings widgets by config field name."""
    with gr.Tab("RAG", id="rag"):
        gr.Markdown("Embed the train tweets with a sentence-transformer, index them in FAISS, and classify each eval "
                    "tweet by its neighbours: a similarity-weighted **kNN** vote, the neighbours as **prompt** "
                    "demonstrations to an LM, or a **linear** probe on the same embeddings.")
        widgets = config_widgets(RagConfig, "rag", app_defaults(RagConfig))
        with gr.Row():
            start = gr.Button("Run RAG", variant="primary", elem_id="rag-start")
            stop = gr.Button("Stop", variant="stop")
            estimate = gr.Button("Estimate", elem_id="rag-estimate")
        status = gr.Markdown(elem_id="rag-status")
        result = gr.Markdown(elem_id="rag-result")
        cm = gr.Plot(label="Confusion matrix")
        with gr.Row():
            query = gr.Textbox(label="Neighbours of a tweet", placeholder="type a tweet", scale=4)
            look = gr.Button("Show neighbours", scale=1)
        neighbours = gr.Dataframe(wrap=True, max_height=300)

    @user_errors
    def handler(request: gr.Request = None, progress=gr.Progress(), **values):
        settings, data_values = split_data(values)
        selected_data(data_values, request)
        settings["seed"] = data_values["seed"]
        workers.check_fits_zerogpu("run", "rag", settings, data_values)
        for u in workers.run_job("run", "rag", settings, data_values, session_key(request)):
            progress(u.progress[0], desc=u.progress[1])
            out = {status: u.status, result: u.markdown}
            if u.finished and u.record is not None:
                out[cm] = report.confusion_figure(u.record) if u.record.metrics else None
            yield out

    @user_errors
    def show(text: str, embedder: str, request: gr.Request = None, **data_values):
        selected_data(data_values, request)
        return workers.neighbours(text, embedder, data_values)

    start.click(handler, inputs_kwargs={**widgets, **data_fields}, outputs=[status, result, cm], **HEAVY, **PRIVATE)
    look.click(show, inputs=[query, widgets["embedder"]], inputs_kwargs=data_fields, outputs=neighbours, **LIGHT,
               **PRIVATE)
    stop.click(stop_run, None, status, queue=False, **PRIVATE)
    estimate.click(estimate_handler("rag"), inputs_kwargs={**widgets, **data_fields}, outputs=status, **LIGHT,
                   **PRIVATE)
    return widgets
