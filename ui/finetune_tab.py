"""Fine-tune tab: LoRA or full fine-tuning with live curves."""

from __future__ import annotations

import gradio as gr

from comparisons.analysis import report
from comparisons.serving import service as svc
from finetune.config import PRESETS, FinetuneConfig

from .common import Download, app_defaults, config_widgets, figure_update, method_buttons, plot_rows, wire_method


def build(data_fields: dict) -> dict:
    """The tab; returns its settings widgets by config field name."""
    with gr.Tab("Fine-tune", id="finetune"):
        gr.Markdown("Fine-tune a pretrained LM as a classifier with the Hugging Face `Trainer`: **LoRA** trains small "
                    "adapters and the head; **full** trains every weight. Curves update while it trains. "
                    f"_{PRESETS['app'].shown}_")
        widgets = config_widgets(FinetuneConfig, "ft", app_defaults(FinetuneConfig))
        buttons = method_buttons("ft", "Start fine-tuning")
        status = gr.Markdown(elem_id="ft-status")
        with gr.Row():
            loss_plot = gr.LinePlot(x="step", y="value", color="series", title="Loss", height=260, visible=False)
            acc_plot = gr.LinePlot(x="step", y="value", color="series", title="Accuracy", height=260, y_lim=[0, 1],
                                   visible=False)
        result = gr.Markdown(elem_id="ft-result")
        with gr.Row():
            cm = gr.Plot(label="Confusion matrix", visible=False)
            download = Download("Trained adapter / model (safetensors)")

    def shown(u: svc.RunUpdate) -> dict:
        loss, acc = report.curves([e for e in u.events if e.get("event") in ("train", "eval")])
        out = {status: u.status, result: u.markdown, loss_plot: plot_rows(loss, 2), acc_plot: plot_rows(acc, 2)}
        if u.finished and u.record is not None:
            out[cm] = figure_update(u.record)
            out[download] = svc.model_archive(u.record)
        return out

    wire_method("finetune", widgets, data_fields, buttons, status, [status, result, loss_plot, acc_plot, cm, download],
                shown)
    return widgets
