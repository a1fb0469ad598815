"""Peers tab: what a practitioner would try instead of a language model, on the same selection and split (the
TF-IDF baseline, SetFit), and any registered method without a tab of its own: a section each, from the registry."""

from __future__ import annotations

import gradio as gr

from comparisons.ground import registry

from .common import app_defaults, config_widgets, figure_update, method_buttons, wire_method


def build(data_fields: dict) -> dict:
    """The tab; returns {method: {field name: component}}."""
    out = {}
    with gr.Tab("Peers", id="peers"):
        gr.Markdown("What you would try **instead of** a language model, on the same tweets and eval split: every "
                    "run appears in Compare and Try it beside the others.")
        for m in [m for m in registry.all_methods() if not m.tab]:  # every method without a tab of its own
            method, cls, prefix = m.name, m.config_class(), m.widget_prefix
            with gr.Group():
                gr.Markdown(f"### {m.title}\n{m.blurb}")
                widgets = config_widgets(cls, prefix, app_defaults(cls))
                buttons = method_buttons(prefix, f"Run {m.title}")
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
