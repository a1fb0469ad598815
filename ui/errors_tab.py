"""Disagreements tab: where the methods differ, tweet by tweet, on the selection's eval split; what one tweet
looked like to each method; and which "errors" are likely wrong gold labels (shown, never dropped)."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from comparisons.analysis.disagreement import FILTERS
from comparisons.ground.errors import UserError
from comparisons.ground.exports import export_folder
from comparisons.serving import service as svc

from . import workers
from .common import LIGHT, PRIVATE, Download, Table, selected_data, user_errors, visitor


def build(data_fields: dict) -> None:
    with gr.Tab("Disagreements", id="disagreements"):
        gr.Markdown("Every eval tweet of the Data tab's selection, with each finished run's prediction and confidence "
                    "(✓ right, ✗ wrong). Filter, then click a row to see the tweet as each method saw it.")
        with gr.Row():
            kind = gr.Radio([(v, k) for k, v in FILTERS.items()], value="disagree", label="Filter",
                            elem_id="dis-filter")
            threshold = gr.Slider(0.34, 1.0, value=0.9, step=0.01, label="Confidence threshold (confident errors)")
        with gr.Row():
            run_a = gr.Dropdown([], label="Run A", elem_id="dis-a")
            run_b = gr.Dropdown([], label="Run B", elem_id="dis-b")
            gold = gr.Dropdown([], label="Gold label (optional)", elem_id="dis-gold")
            query = gr.Textbox(label="Text contains", elem_id="dis-query")
        with gr.Row():
            show = gr.Button("Show", variant="primary", elem_id="dis-show")
            export = gr.Button("Export the filtered rows as CSV", elem_id="dis-export")
        counts = gr.Markdown(elem_id="dis-counts")
        table = Table(wrap=True, max_height=420, elem_id="dis-table", max_chars=120,
                      empty="nothing yet: finish two runs on this data, then press Show")
        files = Download("Export")
        detail = gr.Markdown(elem_id="dis-detail")
        with gr.Row():
            probs = Table(label="Each run's label probabilities", wrap=True, elem_id="dis-probs",
                          empty="click a row of the table above")
            fewshot = Table(label="Few-shot: before and after calibration", wrap=True, elem_id="dis-fewshot",
                            empty="no few-shot run on this data (or no row clicked yet)")
        neighbours = Table(label="RAG: nearest train tweets", wrap=True, elem_id="dis-neighbours",
                           empty="no RAG run on this data (or no row clicked yet)")
        prompt = gr.Textbox(label="The few-shot prompt for this tweet", lines=8, elem_id="dis-prompt")
        with gr.Accordion("Eval-label suspects: which 'errors' are likely wrong gold labels", open=False):
            gr.Markdown("cleanlab over the eval split, from the finished runs' averaged probabilities. Shown only: an "
                        "eval split is never edited to flatter a model. The ranges say how each run's accuracy "
                        "would read if the top suspects are mislabelled.")
            with gr.Row():
                top = gr.Number(20, precision=0, label="Top suspects", minimum=1, maximum=500)
                suspects_btn = gr.Button("Find eval-label suspects", elem_id="dis-suspects")
            suspects = Table(wrap=True, max_height=320, elem_id="dis-suspects-table",
                             empty="press Find eval-label suspects")
            ranges = Table(label="Accuracy if the top suspects are mislabelled", wrap=True,
                           empty="press Find eval-label suspects")
        rows_state = gr.State([])

    def filters(values: dict) -> dict:
        return dict(kind=values.pop("kind"), a=values.pop("run_a") or None, b=values.pop("run_b") or None,
                    threshold=float(values.pop("threshold")), gold=values.pop("gold") or None,
                    query=values.pop("query") or "")

    @user_errors
    def do_show(request: gr.Request = None, **values):
        f = filters(values)
        data = selected_data(values, request)
        out = svc.disagreements(data, visitor(request).store(), **f)
        ids = [rid for _, rid in out["runs"]]
        a = f["a"] if f["a"] in ids else (ids[0] if ids else None)
        b = f["b"] if f["b"] in ids else (ids[1] if len(ids) > 1 else None)
        return {table: out["table"], counts: out["markdown"], rows_state: out["table"]["row"].tolist(),
                run_a: gr.update(choices=out["runs"], value=a), run_b: gr.update(choices=out["runs"], value=b),
                gold: gr.update(choices=["", *data.label_names], value=f["gold"] or "")}

    @user_errors
    def do_select(rows, evt: gr.SelectData, request: gr.Request = None, **values):
        if not rows:
            raise UserError("show some rows first.")
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        row = int(rows[index])
        selected_data(values, request)
        d = workers.tweet_details(row, values, visitor(request))
        return {detail: f"**Row {row}** · gold **{d['gold']}** · {d['text']}", probs: d["probs"],
                neighbours: d["neighbours"], prompt: d["prompt"], fewshot: d["prompt_probs"]}

    @user_errors
    def do_export(request: gr.Request = None, **values):
        f = filters(values)
        out = svc.disagreements(selected_data(values, request), visitor(request).store(), **f)
        path = export_folder("disagreements") / f"disagreements-{f['kind']}.csv"
        out["table"].to_csv(path, index=False)
        return str(path)

    @user_errors
    def do_suspects(n, request: gr.Request = None, **values):
        from comparisons.analysis import report
        from comparisons.analysis.quality import eval_suspects

        data = selected_data(values, request)
        records, _ = report.comparable(visitor(request).store().list(), data.fingerprint)
        out = eval_suspects(records, data, top=int(n or 20))
        return {suspects: pd.DataFrame(out["suspects"]), ranges: pd.DataFrame(out["accuracy_if_mislabelled"])}

    filter_inputs = {"kind": kind, "run_a": run_a, "run_b": run_b, "threshold": threshold, "gold": gold,
                     "query": query, **data_fields}
    show.click(do_show, inputs_kwargs=filter_inputs, outputs=[table, counts, rows_state, run_a, run_b, gold], **LIGHT,
               **PRIVATE)
    table.select(do_select, inputs=[rows_state], inputs_kwargs=data_fields,
                 outputs=[detail, probs, neighbours, prompt, fewshot], **LIGHT, **PRIVATE)
    export.click(do_export, inputs_kwargs=filter_inputs, outputs=files, **PRIVATE)
    suspects_btn.click(do_suspects, inputs=[top], inputs_kwargs=data_fields, outputs=[suspects, ranges], **LIGHT,
                       **PRIVATE)
