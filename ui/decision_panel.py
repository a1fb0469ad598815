"""The decision card as a panel (Compare: from the runs on the chosen eval split; Studies: from the chosen study's
forecasts): the visitor's labels, target, latency budget, hardware and training budget in, the recommendation with its
reasons and price out, exportable as Markdown."""
from __future__ import annotations

import gradio as gr

from comparisons.analysis.decision import HARDWARE

from .common import LIGHT, PRIVATE, Download, user_errors, visitor


def _number(value, kind=float):
    """An empty box (Gradio sends None or 0 for it) is 'not given': 0 means nothing for any of these inputs."""
    if value in (None, "") or float(value) == 0:
        return None
    return kind(value)


def build(source, source_kind: str, elem_prefix: str):
    """`source`: the component whose value names the evidence (an eval split's fingerprint, or a study id). Returns
    the "Set up the suggested study" button and the state holding the card's suggestion, for the caller to wire to
    the Studies tab's form (study_tab.fill_suggestion)."""
    with gr.Accordion("Decision card: which method, and at what price?", open=False, elem_id=f"{elem_prefix}-decision"):
        gr.Markdown("Your labels, an accuracy target and a latency budget in; the cheapest method to serve among those "
                    "tied with the best out, with the labels it would need. "
                    + ("From the study's learning curves: forecasts with intervals." if source_kind == "study" else
                       "From your runs on this eval split; a study over train sizes adds forecasts."))
        with gr.Row():
            labels = gr.Number(None, label="Labels you have (empty: the runs' train size)", precision=0)
            target = gr.Number(None, label="Target accuracy (optional, e.g. 0.75)")
            max_ms = gr.Number(None, label="Latency budget, ms per tweet (optional)")
        with gr.Row():
            hardware = gr.Dropdown([(v["title"], k) for k, v in HARDWARE.items()], value="this machine",
                                   label="Serving on")
            max_train = gr.Number(None, label="Training time budget, s (optional)")
            go = gr.Button("Recommend", variant="primary", elem_id=f"{elem_prefix}-recommend")
        card = gr.Markdown(elem_id=f"{elem_prefix}-card")
        with gr.Row():
            suggest = gr.Button("Set up the suggested study", visible=False, elem_id=f"{elem_prefix}-suggest")
            export = Download("Decision card (Markdown)")
        suggested = gr.State(None)

    @user_errors
    def recommend(source_value, labels_v, target_v, max_ms_v, hardware_v, max_train_v, request: gr.Request = None):
        from comparisons.analysis.decision import Inputs, for_store, markdown
        from comparisons.ground.exports import export_folder

        inputs = Inputs(labels=_number(labels_v, int), target=_number(target_v), max_ms=_number(max_ms_v),
                        hardware=hardware_v or "this machine", max_train_seconds=_number(max_train_v))
        if source_kind == "study" and not source_value:
            raise gr.Error("choose a study over train sizes first.")
        store = visitor(request).store()
        c = for_store(store, inputs, study_id=source_value if source_kind == "study" else None,
                      fingerprint=(source_value or None) if source_kind == "runs" else None)
        text = markdown(c)
        path = export_folder("decision") / "decision-card.md"
        path.write_text("# Decision card\n\n" + text + "\n", encoding="utf-8")
        study = c["suggested_study"] if c["missing"] else None
        return text, str(path), study, gr.update(visible=bool(study))

    go.click(recommend, [source, labels, target, max_ms, hardware, max_train], [card, export, suggested, suggest],
             api_name=f"{elem_prefix}_decision_card", **LIGHT, **PRIVATE)
    return suggest, suggested
