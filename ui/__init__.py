"""The face: Gradio Blocks only, one module per tab (as LLaMA-Factory's web UI), and the public API.
Logic lives in comparisons.serving.service and the method packages; nothing here imports torch, transformers,
faiss, peft or sentence-transformers."""

from __future__ import annotations

import gradio as gr

from comparisons.ground.device import on_zerogpu, space_has_oauth
from comparisons.serving import service as svc

from . import (
    api,
    board_tab,
    compare_tab,
    data_tab,
    errors_tab,
    guide_tab,
    peers_tab,
    study_tab,
    try_tab,
    workers,
)
from .common import CSS, PRIVATE


def method_tabs(data_fields: dict) -> dict:
    """A tab per method that declares one (registry: `tab`), in the registry's order; the methods without one are
    sections of the Peers tab, placed where the first of them comes. Returns {method: {field name: component}}."""
    import importlib

    from comparisons.ground import registry

    widgets, peers_placed = {}, False
    for method in registry.all_methods():
        if method.tab:
            module, name = method.tab.split(":")
            widgets[method.name] = getattr(importlib.import_module(module), name)(data_fields)
        elif not peers_placed:
            widgets.update(peers_tab.build(data_fields))
            peers_placed = True
    return widgets


def build_demo() -> gr.Blocks:
    svc.runs_store().mark_interrupted()
    if on_zerogpu():
        workers.preload_models()
    with gr.Blocks(title="Tune · Prompt · Retrieve") as demo:
        gr.Markdown("# Tune · Prompt · Retrieve\nShould you **fine-tune**, **prompt with examples**, or **retrieve**? "
                    "Run all three on the same tweets and compare. Start in **Data**, then any method tab, then "
                    "**Compare**. Your runs are yours: other visitors never see them.")
        if space_has_oauth():  # 'Sign in with Hugging Face': runs then follow the account, and Push uses its token
            gr.LoginButton()
        with gr.Tabs() as tabs:
            data_fields = data_tab.build()
            widgets = method_tabs(data_fields)
            view, compare_outputs, suggestion = compare_tab.build(data_fields)
            errors_tab.build(data_fields)
            study_widgets = study_tab.build(data_fields)
            study_tab.fill_suggestion(*suggestion, study_widgets, tabs)  # Compare's card -> the Studies form
            try_tab.build(data_fields)
            board_fill, board_outputs = board_tab.build(data_fields)
            guide_fill, guide_text = guide_tab.build()
        api.register()
        demo.load(view, None, compare_outputs, **PRIVATE)
        demo.load(board_fill, None, board_outputs, **PRIVATE)
        demo.load(guide_fill, None, guide_text, **PRIVATE)
    demo.queue(max_size=256, default_concurrency_limit=4)  # a workshop: 50 visitors, each a job and a Try it
    demo.tpr_widgets = {"data": data_fields, **widgets, "study": study_widgets}  # {tab: {name: component}}, for tests
    return demo


def launch(demo: gr.Blocks, **kwargs):
    """Serve the app as `python app.py` does: the upload cap, and the server-minted visitor cookie in front of it
    (comparisons.running.identity.VisitorCookies: signed, HttpOnly). Old exports are swept at start."""
    from starlette.middleware import Middleware

    from comparisons.ground.exports import sweep
    from comparisons.running.identity import VisitorCookies

    sweep()
    app_kwargs = {**kwargs.pop("app_kwargs", {}), "middleware": [Middleware(VisitorCookies)]}
    kwargs.setdefault("css", CSS)
    return demo.launch(max_file_size=f"{svc.max_upload_mb():g}mb", show_error=True, app_kwargs=app_kwargs, **kwargs)
