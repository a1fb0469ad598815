"""Compare tab: finished runs on one eval split side by side; Run all; exports; delete."""

from __future__ import annotations

import time

import gradio as gr

from comparisons.analysis import report
from comparisons.ground.exports import export_folder
from comparisons.serving import service as svc

from . import decision_panel, workers
from .common import (
    HEAVY,
    LIGHT,
    NOTHING_YET,
    PRIVATE,
    Download,
    Table,
    admit_values,
    announce_handler,
    attach_admission,
    heavy_turn,
    selected_data,
    split_data,
    stop_run,
    user_errors,
    visitor,
)


def build(data_fields: dict):
    """The tab; returns (the view function, its outputs) so that the page can fill it on load."""
    with gr.Tab("Compare", id="compare") as tab:
        gr.Markdown("Every finished run on one eval split, side by side. **Run all** runs LoRA, full fine-tuning, "
                    "few-shot (balanced and retrieved) and RAG one after another on the current data selection "
                    "(on a CPU with trimmed settings, said in each step).")
        with gr.Row():
            run_all = gr.Button("Run all", variant="primary", elem_id="run-all")
            stop = gr.Button("Stop", variant="stop", elem_id="compare-stop")
            refresh = gr.Button("Refresh", elem_id="compare-refresh")
            fp = gr.Dropdown([], label="Eval split (fingerprint)", allow_custom_value=True)
        status = gr.Markdown(elem_id="compare-status")
        table = Table(label="Runs on this eval split, best first (every column is in the export)", wrap=True,
                      elem_id="compare-table")
        verdicts = gr.Markdown(elem_id="compare-verdicts")
        with gr.Accordion("Paired test of two runs", open=False, elem_id="compare-paired"):
            gr.Markdown("Two runs on the same eval tweets: a paired bootstrap interval of their accuracy difference "
                        "(scipy) and McNemar's exact test on the tweets only one of them gets right (statsmodels).")
            with gr.Row():
                run_a = gr.Dropdown([], label="Run A", elem_id="paired-a")
                run_b = gr.Dropdown([], label="Run B", elem_id="paired-b")
                paired = gr.Button("Test", elem_id="paired-test")
            paired_out = gr.Markdown(elem_id="paired-result")
        bars = gr.BarPlot(x="run", y="value", color="metric", title="Accuracy and macro-F1, best first", height=380,
                          x_label_angle=-40, y_lim=[0, 1], sort=None, visible=False, elem_id="compare-bars")
        gallery = gr.Gallery(label="Confusion matrices, best first", columns=3, height="auto", object_fit="contain",
                             visible=False, elem_id="compare-gallery")
        suggestion = decision_panel.build(fp, "runs", "compare")
        with gr.Row():
            export = gr.Button("Export CSV / JSON / Markdown")
            files = Download("Exports", file_count="multiple")
        with gr.Accordion("Your runs: delete, download or push a model to the Hub", open=False,
                          elem_id="compare-yours"):
            gr.Markdown("Only your own runs are listed here, and only you can delete them or take their models. "
                        "Every saved model has a model card (README.md) with its metrics, settings and data.")
            all_runs = Table(wrap=True, elem_id="compare-all-runs", empty="none of your runs yet")
            with gr.Row():
                own = gr.Dropdown([], label="Run", elem_id="own-run")
                delete = gr.Button("Delete run", variant="stop", elem_id="own-delete")
                download = gr.Button("Download model", elem_id="own-download")
            with gr.Row():
                repo = gr.Textbox(label="Hub repo (your-name/model-name)", elem_id="own-repo")
                private = gr.Checkbox(True, label="private repo")
                push = gr.Button("Push to Hub", elem_id="own-push")
            own_status = gr.Markdown(elem_id="own-status")
            model_file = Download("Model (zip, with its card)")
    outputs = [table, bars, gallery, fp, all_runs, verdicts, run_a, run_b, own]

    def view(fingerprint=None, request: gr.Request = None):
        store = visitor(request).store()
        t, b, figs, chosen, fps = report.compare_view(store, fingerprint or None)
        images = [report.figure_png(f, export_folder("confusion")) for f in figs]
        runs = report.comparable(store.list(), chosen)[0]
        lines = report.comparison_verdict(runs) + report.peer_verdicts(runs)
        ranked = sorted(runs, key=lambda r: r.metrics.get("accuracy", 0), reverse=True)
        choices = [(f"{r.label} [{r.run_id[-6:]}] {r.metrics.get('accuracy', 0):.3f}", r.run_id) for r in ranked]
        pick = lambda i: choices[i][1] if len(choices) > i else None  # noqa: E731
        mine = [(f"{r.label} [{r.run_id}] {r.status}", r.run_id) for r in store.list()]
        said = "\n".join(f"- {v}" for v in lines) if lines else f"_{NOTHING_YET.capitalize()}._"
        return {table: t, bars: bar_update(b), gallery: gr.update(value=images, visible=bool(images)),
                fp: gr.update(choices=fps, value=chosen), all_runs: report.runs_table(store), verdicts: said,
                run_a: gr.update(choices=choices, value=pick(0)), run_b: gr.update(choices=choices, value=pick(1)),
                own: gr.update(choices=mine, value=None)}

    def bar_update(b):
        """Best first (the rows come ranked): the chart keeps the rows' order instead of sorting names."""
        if not len(b):
            return gr.skip()
        return gr.update(value=b, visible=True, sort=list(dict.fromkeys(b["run"])))

    @user_errors
    def do_paired(a, b, request: gr.Request = None):
        from comparisons.ground.stats import paired_records

        if not a or not b or a == b:
            raise svc.UserError("choose two different runs.")
        store = visitor(request).store()
        return paired_records(store.load(a), store.load(b)).verdict()

    @user_errors
    def do_delete(run_id, fingerprint, request: gr.Request = None):
        if not run_id:
            raise svc.UserError("choose one of your runs first.")
        visitor(request).store().delete(run_id)
        return {**view(fingerprint, request), own_status: f"Deleted run {run_id}."}

    @user_errors
    def do_download(run_id, request: gr.Request = None):
        record = svc.own_model_run(visitor(request), run_id)
        return {model_file: svc.model_archive(record), own_status: f"Model of {record.label} [{record.run_id}]."}

    @user_errors
    def do_push(run_id, repo_id, is_private, request: gr.Request = None, token: gr.OAuthToken | None = None):
        who = visitor(request)
        url = svc.push_model(who, run_id, repo_id, token.token if token else None, private=bool(is_private))
        return f"Pushed to [{url}]({url})."

    def do_export(fingerprint, request: gr.Request = None):
        return report.export_compare(visitor(request).store(), fingerprint,
                                     export_folder("compare"))

    @user_errors
    def do_run_all(request: gr.Request = None, progress=gr.Progress(), **values):
        _, data_values = split_data(values)
        selected_data(data_values, request)
        workers.check_fits_zerogpu("all", "", {}, data_values, visitor(request))
        t0, records = time.perf_counter(), []
        with heavy_turn(request):
            for u in workers.run_job("all", "", {}, data_values, visitor(request)):
                progress(u.progress[0], desc=u.status)
                records = u.records
                line = f"**{u.step}** — {'done' if u.finished else u.progress[1]} · {svc.wait_seconds(t0)}"
                yield {status: line, **(view(None, request) if u.finished else {})}
        yield {status: svc.run_all_summary(records, time.perf_counter() - t0, verdict=False), **view(None, request)}

    paired.click(do_paired, [run_a, run_b], paired_out, **LIGHT, **PRIVATE)
    refresh.click(view, fp, outputs, **LIGHT, **PRIVATE)
    tab.select(view, None, outputs, **LIGHT, **PRIVATE)  # opened: the visitor's runs as they stand, no Refresh needed
    fp.input(view, fp, outputs, **PRIVATE)
    delete.click(do_delete, [own, fp], [*outputs, own_status], **PRIVATE)
    download.click(do_download, own, [model_file, own_status], **PRIVATE)
    push.click(do_push, [own, repo, private], own_status, **LIGHT, **PRIVATE)
    export.click(do_export, fp, files, **PRIVATE)
    stop.click(stop_run, None, status, queue=False, **PRIVATE)
    dep = run_all.click(announce_handler("all", ""), inputs_kwargs=data_fields, outputs=status, **LIGHT,
                        **PRIVATE).success(do_run_all, inputs_kwargs=data_fields, outputs=[status, *outputs], **HEAVY,
                                           **PRIVATE)
    attach_admission(dep, admit_values("all", "", claim=True), do_run_all)
    return view, outputs, suggestion
