"""Adapt tab: domain-adaptive pretraining, live — continue the LM's training on the task's own unlabelled tweets
(TAPT), with its loss curve and the two perplexities before and after (tweets, general English); the adapted
model is then a starting point for Fine-tune and Few-shot (model run:<id>)."""

from __future__ import annotations

import gradio as gr

from comparisons.analysis import report
from comparisons.serving import service as svc
from finetune.adapt_config import AdaptConfig

from .common import app_defaults, config_widgets, method_buttons, plot_rows, wire_method


def build(data_fields: dict) -> dict:
    with gr.Tab("Adapt", id="adapt"):
        gr.Markdown("**Domain-adaptive pretraining** (Gururangan et al. 2020, *Don't Stop Pretraining*): the language "
                    "model keeps learning to predict the next word, on the selection's train tweets with their labels "
                    "ignored (TAPT). Perplexity on the eval tweets should fall; perplexity on general English "
                    "(WikiText) shows what it costs. Then start **Fine-tune** or **Few-shot** from the adapted model "
                    "by typing its `run:<id>` as the model. (A DAPT corpus file is a CLI option: `--corpus FILE`.)")
        widgets = config_widgets(AdaptConfig, "ad", app_defaults(AdaptConfig))
        buttons = method_buttons("ad", "Adapt")
        status = gr.Markdown(elem_id="ad-status")
        loss_plot = gr.LinePlot(x="step", y="value", color="series", title="Language-model loss", height=260,
                                 visible=False)
        result = gr.Markdown(elem_id="ad-result")

    def shown(u: svc.RunUpdate) -> dict:
        loss, _ = report.curves([e for e in u.events if e.get("event") == "train"])
        return {status: u.status, result: u.markdown, loss_plot: plot_rows(loss, 2)}

    wire_method("adapt", widgets, data_fields, buttons, status, [status, result, loss_plot], shown)
    return widgets
