"""Fine-tune tab: LoRA or full fine-tuning with live curves."""

from __future__ import annotations

import gradio as gr

from comparisons import report
from comparisons import service as svc
from finetune.config import PRESETS, FinetuneConfig

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
    with gr.Tab("Fine-tune", id="finetune"):
        gr.Markdown("Fine-tune a pretrained LM as a classifier with the Hugging Face `Trainer`: **LoRA** trains small "
                    "adapters and the head; **full** trains every weight. Curves update while it trains. "
                    f"_{PRESETS['app'].why}_")
        widgets = config_widgets(FinetuneConfig, "ft", app_defaults(FinetuneConfig))
        with gr.Row():
            start = gr.Button("Start fine-tuning", variant="primary", elem_id="ft-start")
            stop = gr.Button("Stop", variant="stop", elem_id="ft-stop")
            estimate = gr.Button("Estimate", elem_id="ft-estimate")
        status = gr.Markdown(elem_id="ft-status")
        with gr.Row():
            loss_plot = gr.LinePlot(x="step", y="value", color="series", title="Loss", height=260)
            acc_plot = gr.LinePlot(x="step", y="value", color="series", title="Accuracy", height=260, y_lim=[0, 1])
        result = gr.Markdown(elem_id="ft-result")
        with gr.Row():
            cm = gr.Plot(label="Confusion matrix")
            download = gr.File(label="Trained adapter / model (safetensors)")

    @user_errors
    def handler(request: gr.Request = None, progress=gr.Progress(), **values):
        settings, data_values = split_data(values)
        selected_data(data_values, request)
        settings["seed"] = data_values["seed"]
        workers.check_fits_zerogpu("run", "finetune", settings, data_values)
        for u in workers.run_job("run", "finetune", settings, data_values, session_key(request)):
            progress(u.progress[0], desc=u.progress[1])
            loss, acc = report.curves([e for e in u.events if e.get("event") in ("train", "eval")])
            out = {status: u.status, result: u.markdown, loss_plot: plot_rows(loss), acc_plot: plot_rows(acc)}
            if u.finished and u.record is not None:
                out[cm] = report.confusion_figure(u.record) if u.record.metrics else None
                out[download] = svc.model_archive(u.record)
            yield out

    start.click(handler, inputs_kwargs={**widgets, **data_fields},
                outputs=[status, result, loss_plot, acc_plot, cm, download], **HEAVY, **PRIVATE)
    stop.click(stop_run, None, status, queue=False, **PRIVATE)
    estimate.click(estimate_handler("finetune"), inputs_kwargs={**widgets, **data_fields}, outputs=status, **LIGHT,
                   **PRIVATE)
    return widgets
