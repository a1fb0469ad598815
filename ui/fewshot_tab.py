"""Few-shot tab: demonstrations in the prompt, calibrated label scoring, the k-sweep."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from comparisons import report
from comparisons import service as svc
from fewshot.config import MOST_ACCURATE, SWEEP_SHOTS, FewshotConfig

from . import workers
from .common import (
    HEAVY,
    LIGHT,
    PRIVATE,
    app_defaults,
    config_widgets,
    estimate_handler,
    plot_rows,
    selected_data,
    session_key,
    split_data,
    stop_run,
    user_errors,
)


def build(data_fields: dict) -> dict:
    """The tab; returns its settings widgets by config field name."""
    with gr.Tab("Few-shot", id="fewshot"):
        gr.Markdown("Prompt a causal LM with labelled tweets (no training) and score each label word's likelihood. "
                    "**Retrieved** demonstrations are each tweet's nearest train tweets; **calibration** divides out "
                    "the model's label bias, measured on content-free inputs (*contextual*) or as the mean prediction "
                    "over the eval tweets themselves (*batch*: no labels, no extra prompts).")
        widgets = config_widgets(FewshotConfig, "fs", app_defaults(FewshotConfig))
        with gr.Row():
            start = gr.Button("Run few-shot", variant="primary", elem_id="fs-start")
            best = gr.Button("Most accurate setting", elem_id="fs-best")
            sweep = gr.Button(f"k-sweep ({','.join(map(str, SWEEP_SHOTS))})", elem_id="fs-sweep")
            stop = gr.Button("Stop", variant="stop")
            estimate = gr.Button("Estimate", elem_id="fs-estimate")
        status = gr.Markdown(elem_id="fs-status")
        result = gr.Markdown(elem_id="fs-result")
        with gr.Row():
            cm = gr.Plot(label="Confusion matrix")
            sweep_plot = gr.LinePlot(x="shots", y="accuracy", color="calibration", title="Accuracy vs shots",
                                     height=260)
        examples = gr.Dataframe(label="Example prompts (gold label, label probabilities)", wrap=True, max_height=300)

    def shown(u: svc.RunUpdate) -> dict:
        out = {status: u.status, result: u.markdown}
        if u.finished and u.record is not None:
            out[cm] = report.confusion_figure(u.record) if u.record.metrics else None
            out[examples] = pd.DataFrame(u.record.diagnostics.get("examples", []))
        return out

    @user_errors
    def handler(request: gr.Request = None, progress=gr.Progress(), **values):
        settings, data_values = split_data(values)
        selected_data(data_values, request)
        settings["seed"] = data_values["seed"]
        workers.check_fits_zerogpu("run", "fewshot", settings, data_values)
        for u in workers.run_job("run", "fewshot", settings, data_values, session_key(request)):
            progress(u.progress[0], desc=u.progress[1])
            yield shown(u)

    @user_errors
    def sweep_handler(request: gr.Request = None, progress=gr.Progress(), **values):
        settings, data_values = split_data(values)
        selected_data(data_values, request)
        settings["seed"] = data_values["seed"]
        workers.check_fits_zerogpu("sweep", "fewshot", settings, data_values)
        for u in workers.run_job("sweep", "fewshot", settings, data_values, session_key(request)):
            progress(u.progress[0], desc=f"{u.step}: {u.progress[1]}")
            yield {**shown(u), sweep_plot: plot_rows(report.sweep_points(u.records))}

    def most_accurate():
        return {**{widgets[k]: v for k, v in MOST_ACCURATE.values.items()}, status: MOST_ACCURATE.why}

    inputs = {**widgets, **data_fields}
    outputs = [status, result, cm, examples, sweep_plot]
    best.click(most_accurate, None, [*(widgets[k] for k in MOST_ACCURATE.values), status], queue=False, **PRIVATE)
    start.click(handler, inputs_kwargs=inputs, outputs=outputs, **HEAVY, **PRIVATE)
    sweep.click(sweep_handler, inputs_kwargs=inputs, outputs=outputs, **HEAVY, **PRIVATE)
    stop.click(stop_run, None, status, queue=False, **PRIVATE)
    estimate.click(estimate_handler("fewshot"), inputs_kwargs={**widgets, **data_fields}, outputs=status, **LIGHT,
                   **PRIVATE)
    return widgets
