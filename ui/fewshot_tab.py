"""Few-shot tab: demonstrations in the prompt, calibrated label scoring, the k-sweep."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from comparisons.analysis import report
from comparisons.serving import service as svc
from fewshot.config import MOST_ACCURATE, SWEEP_SHOTS, FewshotConfig

from .common import (
    PRIVATE,
    Table,
    app_defaults,
    config_widgets,
    figure_update,
    method_buttons,
    plot_rows,
    start_job,
    wire_method,
)


def build(data_fields: dict) -> dict:
    """The tab; returns its settings widgets by config field name."""
    with gr.Tab("Few-shot", id="fewshot"):
        gr.Markdown("Prompt a causal LM with labelled tweets (no training) and score each label word's likelihood. "
                    "**Retrieved** demonstrations are each tweet's nearest train tweets; **calibration** divides out "
                    "the model's label bias, measured on content-free inputs (*contextual*) or as the mean prediction "
                    "over the eval tweets themselves (*batch*: no labels, no extra prompts).")
        widgets = config_widgets(FewshotConfig, "fs", app_defaults(FewshotConfig))
        buttons = method_buttons("fs", "Run few-shot", ("Most accurate setting", "best"),
                                 (f"k-sweep ({','.join(map(str, SWEEP_SHOTS))})", "sweep"))
        best, sweep = buttons[3:]
        status = gr.Markdown(elem_id="fs-status")
        result = gr.Markdown(elem_id="fs-result")
        with gr.Row():
            cm = gr.Plot(label="Confusion matrix", visible=False)
            sweep_plot = gr.LinePlot(x="shots", y="accuracy", color="calibration", title="Accuracy vs shots",
                                     visible=False, height=260)
        examples = Table(label="Example prompts (gold label, label probabilities)", wrap=True, max_height=300,
                         empty="nothing yet: press Start")

    def shown(u: svc.RunUpdate) -> dict:
        out = {status: u.status, result: u.markdown}
        if u.finished and u.record is not None:
            out[cm] = figure_update(u.record)
            out[examples] = pd.DataFrame(u.record.diagnostics.get("examples", []))
        return out

    def shown_sweep(u: svc.RunUpdate) -> dict:
        return {**shown(u), sweep_plot: plot_rows(report.sweep_points(u.records), 2)}

    def most_accurate():
        return {**{widgets[k]: v for k, v in MOST_ACCURATE.values.items()}, status: MOST_ACCURATE.shown}

    outputs = [status, result, cm, examples, sweep_plot]
    wire_method("fewshot", widgets, data_fields, buttons, status, outputs, shown)
    start_job(sweep, "sweep", "fewshot", shown_sweep, {**widgets, **data_fields}, status, outputs)
    best.click(most_accurate, None, [*(widgets[k] for k in MOST_ACCURATE.values), status], queue=False, **PRIVATE)
    return widgets
