"""Try it tab: one tweet, every method's answer."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from . import workers
from .common import LIGHT, PRIVATE, Table, selected_data, user_errors, visitor


def build(data_fields: dict) -> None:
    with gr.Tab("Try it", id="try"):
        gr.Markdown("Type a tweet: every method with a finished run on the current eval split answers side by side.")
        with gr.Row():
            text = gr.Textbox(label="Tweet", placeholder="just got the job offer, so happy!", scale=4,
                              elem_id="try-text")
            go = gr.Button("Classify", variant="primary", scale=1, elem_id="try-go")
        answers = Table(label="Label and probabilities per method", elem_id="try-table",
                        empty="type a tweet and press Classify (uses your finished runs on this data)")
        neighbours = Table(label="RAG: nearest train tweets", wrap=True, empty="type a tweet and press Classify")
        setfit_neighbours = Table(label="SetFit: nearest train tweets in its fine-tuned space", wrap=True,
                                  empty="type a tweet and press Classify (needs a SetFit run on this data)")
        prompt = gr.Textbox(label="Few-shot prompt used", lines=8)

    @user_errors
    def classify_tweet(text: str, request: gr.Request = None, **data_values):
        selected_data(data_values, request)
        out = workers.try_it(text, data_values, visitor(request))
        return {answers: out["table"], neighbours: pd.DataFrame(out["neighbours"]), prompt: out["prompt"],
                setfit_neighbours: pd.DataFrame(out["setfit_neighbours"])}

    for trigger in (go.click, text.submit):
        trigger(
            classify_tweet,
            inputs=[text],
            inputs_kwargs=data_fields,
            outputs=[answers, neighbours, prompt, setfit_neighbours],
            **LIGHT,
            **PRIVATE,
        )
