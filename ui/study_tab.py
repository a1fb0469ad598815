"""Studies tab: when does fine-tuning pay off? A grid of ordinary runs (train sizes or a setting × methods ×
seeds) on one fixed eval split, drawn as a crossover or sweep chart with 95 % bands, with the winners and
crossover points in words; resumable after a Stop."""

from __future__ import annotations

import gradio as gr

from comparisons.ground.device import gpu_present
from comparisons.ground.errors import UserError
from comparisons.ground.exports import export_folder
from comparisons.running.study import (
    METRICS,
    STUDY_PRESETS,
    TRAIN_SIZE,
    StudySpec,
    StudyStore,
    axis_text,
    method_choices,
)
from comparisons.serving import service as svc

from . import decision_panel, workers
from .common import (
    HEAVY,
    LIGHT,
    PRIVATE,
    Download,
    Table,
    attach_admission,
    heavy_turn,
    selected_data,
    session_key,
    split_data,
    stop_run,
    user_errors,
    visitor,
)

PRESET_LABELS = {"CPU preset": "cpu", "GPU preset": "gpu", "Custom": None}
AXIS_FIELDS = ("train_size", "learning_rate", "epochs", "lora_r", "lora_alpha", "batch_size", "min_steps", "shots",
               "k", "C", "max_steps")


def _split_axis(axis) -> tuple[str, str]:
    if not axis:
        return "", ""
    name, _, values = axis_text(axis).partition("=")
    return name, values


def _settings_text(settings: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in (settings or {}).items())


def parse_settings(text: str) -> dict:
    """'field=value, field=value' -> dict; a mistake says which item."""
    out = {}
    for item in [x.strip() for x in (text or "").replace("\n", ",").split(",") if x.strip()]:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"settings: '{item}' is not field=value (e.g. epochs=2).")
        out[name.strip()] = value.strip()
    return out


def preset_values(label: str) -> dict:
    name = PRESET_LABELS.get(label)
    if not name:
        return {}
    spec = STUDY_PRESETS[name].spec
    axis, values = _split_axis(spec["axis"])
    return {"methods": list(spec["methods"]), "axis_field": axis, "axis_values": values, "axis2_field": "",
            "axis2_values": "", "seeds": spec["seeds"], "study_eval_size": str(spec["eval_size"]),
            "study_settings": _settings_text(spec.get("settings", {}))}


def suggestion_values(study: dict | None) -> dict:
    """The Studies form's values for a decision card's suggested study: its methods over train_size, 3 seeds."""
    if not study:
        return {}
    known = set(method_choices())
    return {"preset": "Custom", "methods": [m for m in study["methods"] if m in known], "axis_field": TRAIN_SIZE,
            "axis_values": ",".join(str(n) for n in study["train_sizes"]), "axis2_field": "", "axis2_values": "",
            "seeds": study["seeds"], "study_eval_size": str(study.get("eval_size") or 300)}


def fill_suggestion(button, state, w: dict, tabs=None) -> None:
    """`button` sets the Studies form to the suggestion in `state` (and, given the app's tabs, opens Studies): the
    decision card's one click from "what is missing" to a study ready to start."""
    names = ["preset", "methods", "axis_field", "axis_values", "axis2_field", "axis2_values", "seeds",
             "study_eval_size"]

    def fill(study):
        values = suggestion_values(study)
        if not values:
            return [gr.skip()] * (len(names) + (tabs is not None))
        return [values[n] for n in names] + ([gr.Tabs(selected="studies")] if tabs is not None else [])

    button.click(fill, state, [w[n] for n in names] + ([tabs] if tabs is not None else []), **LIGHT, **PRIVATE)


def build(data_fields: dict) -> dict:
    default = "GPU preset" if gpu_present() else "CPU preset"
    start_values = preset_values(default)
    with gr.Tab("Studies", id="studies"):
        gr.Markdown("**When does fine-tuning pay off?** A study runs every method at several train sizes (or values "
                    "of one setting), over several seeds, on one fixed eval split, and draws the mean with a 95 % "
                    "band. Each cell is an ordinary run (it appears in Compare too). Stop keeps the finished cells; "
                    "**Resume** runs the rest. The data source and columns come from the **Data** tab.")
        w = {}
        with gr.Row():
            w["preset"] = gr.Radio(list(PRESET_LABELS), value=default, label="Preset", elem_id="study-preset",
                                   info="; ".join(f"{k}: {v.why}" for k, v in STUDY_PRESETS.items()))
            w["methods"] = gr.CheckboxGroup(list(method_choices()), value=start_values["methods"], label="Methods",
                                            elem_id="study-methods")
        with gr.Row():
            w["axis_field"] = gr.Dropdown(list(AXIS_FIELDS), value=start_values["axis_field"], allow_custom_value=True,
                                          label="Axis", elem_id="study-axis-field")
            w["axis_values"] = gr.Textbox(start_values["axis_values"], label="Axis values (comma-separated; 'all' for "
                                          "the whole train split)", elem_id="study-axis-values")
            w["axis2_field"] = gr.Dropdown(["", *AXIS_FIELDS], value="", allow_custom_value=True,
                                           label="Second axis (optional: a heatmap)", elem_id="study-axis2-field")
            w["axis2_values"] = gr.Textbox("", label="Second axis values", elem_id="study-axis2-values")
        with gr.Row():
            w["seeds"] = gr.Number(start_values["seeds"], precision=0, label="Seeds", minimum=1, maximum=50,
                                   elem_id="study-seeds")
            w["study_eval_size"] = gr.Textbox(start_values["study_eval_size"], label="Eval tweets (fixed for every "
                                              "cell)", elem_id="study-eval-size")
            w["metric"] = gr.Radio(list(METRICS), value="accuracy", label="Metric", elem_id="study-metric")
            w["study_settings"] = gr.Textbox(start_values["study_settings"], label="Settings for every method that has "
                                             "them (field=value, ...)", elem_id="study-settings")
        with gr.Row():
            start = gr.Button("Start study", variant="primary", elem_id="study-start")
            stop = gr.Button("Stop", variant="stop", elem_id="study-stop")
            estimate = gr.Button("Estimate", elem_id="study-estimate")
            chosen = gr.Dropdown([], label="Study", allow_custom_value=False, elem_id="study-chosen")
            resume = gr.Button("Resume", elem_id="study-resume")
            refresh = gr.Button("Refresh", elem_id="study-refresh")
        status = gr.Markdown(elem_id="study-status")
        chart = gr.Plot(label="Chart", elem_id="study-chart", visible=False)  # shown with its first cell
        found = gr.Markdown(elem_id="study-findings")
        table = Table(label="Cells: mean over seeds ± half the 95 % interval", wrap=True, elem_id="study-table",
                      empty="no study yet: press Start, or choose one of your studies")
        suggest, suggested = decision_panel.build(chosen, "study", "study")
        fill_suggestion(suggest, suggested, w)
        with gr.Row():
            export = gr.Button("Export CSV / JSON / PNG", elem_id="study-export")
            files = Download("Exports", file_count="multiple")

    def spec_of(values: dict, data_values: dict, request) -> dict:
        selected_data(data_values, request)  # checks the Data tab's fields; remembered as the visitor's selection
        sel = svc.current_selection(session_key(request))
        axis = (values["axis_field"] or "").strip()
        axis2 = (values["axis2_field"] or "").strip()
        if axis2 and not (values["axis2_values"] or "").strip():
            raise UserError(f"second axis {axis2}: give its values, or clear it.")
        try:
            seeds = int(values["seeds"])
        except (TypeError, ValueError):
            raise UserError(f"seeds must be a whole number, got {values['seeds']!r}.") from None
        spec = StudySpec(methods=list(values["methods"] or []), axis=f"{axis}={values['axis_values'] or ''}",
                         axis2=f"{axis2}={values['axis2_values']}" if axis2 else None, seeds=seeds,
                         eval_size=(values["study_eval_size"] or "300").strip(), metric=values["metric"],
                         settings=parse_settings(values["study_settings"]), data=sel.source,
                         text_column=sel.text_column, label_column=sel.label_column, drop_leaked=sel.drop_leaked,
                         seed=sel.seed, train_size=sel.train_size, test_size=sel.test_size)
        return spec.to_dict()

    def studies_choices(selected: str | None = None, request: gr.Request = None):
        studies = StudyStore(visitor(request).store()).list()
        choices = [(f"{s.study_id} · {s.status} · {len(s.cells)}/{s.n_cells}", s.study_id) for s in studies]
        return gr.update(choices=choices, value=selected if selected else (choices[0][1] if choices else None))

    def shown_study(study_id: str | None, request: gr.Request = None) -> dict:
        from comparisons.analysis import study_report

        if not study_id:
            return {}
        store = StudyStore(visitor(request).store())
        v = study_report.view(store, store.load(study_id))
        spec = StudySpec.from_dict(v["study"].spec)
        shown = gr.update(value=v["figure"], visible=True) if v["figure"] is not None else gr.skip()
        return {chart: shown, found: "\n".join(f"- {x}" for x in v["findings"]),
                table: study_report.display_table(v["table"], spec, v["study"].where)}

    def stream(spec: dict | None, resume_id: str | None, request, progress):
        who = visitor(request)
        workers.check_study_fits_zerogpu(spec, resume_id, who)
        with heavy_turn(request):
            yield from _stream(spec, resume_id, request, progress, who)

    def _stream(spec: dict | None, resume_id: str | None, request, progress, who):
        study_id = resume_id
        for u in workers.run_study(spec, resume_id, who):
            progress(*u.progress)
            study_id = u.study_id or study_id
            out = {status: f"**{u.progress[1]}**" if not u.finished else ""}
            if u.cell_finished and study_id:
                out.update(shown_study(study_id, request))
            if u.finished:
                study = StudyStore(who.store()).load(study_id) if study_id else None
                done = f"Study {study.study_id}: **{study.status}**, {len(study.cells)}/{study.n_cells} cells on " \
                    f"{study.where or 'this machine'}." if study else ""
                out[status] = f"{done} {'Error: ' + u.error if u.error else ''}".strip()
                out[chosen] = studies_choices(study_id, request)
            yield out

    @user_errors
    def do_start(request: gr.Request = None, progress=gr.Progress(), **values):
        study_values, data_values = split_data(values)
        spec = spec_of(study_values, data_values, request)
        yield {status: svc.study_estimate_text(StudySpec.from_dict(spec)) + " Starting…"}
        yield from stream(spec, None, request, progress)

    @user_errors
    def do_resume(study_id: str | None, request: gr.Request = None, progress=gr.Progress()):
        if not study_id:
            raise UserError("choose a study to resume (Refresh lists them).")
        yield {status: svc.study_estimate_text(None, study_id, visitor(request).store()) + " Resuming…"}
        yield from stream(None, study_id, request, progress)

    @user_errors
    def do_estimate(request: gr.Request = None, **values):
        study_values, data_values = split_data(values)
        return svc.study_estimate_text(StudySpec.from_dict(spec_of(study_values, data_values, request)))

    @user_errors
    def do_preset(request: gr.Request = None, **values):
        label = values.pop("preset")
        filled = preset_values(label)
        out = {w[k]: v for k, v in filled.items()}
        if filled:
            study_values, data_values = split_data({**values, **filled})
            study_values.pop("preset", None)
            try:
                out[status] = f"{label}: " + svc.study_estimate_text(
                    StudySpec.from_dict(spec_of(study_values, data_values, request)))
            except UserError as e:
                out[status] = f"{label}: {e}"
        return out

    @user_errors
    def do_export(study_id: str | None, request: gr.Request = None):
        from comparisons.analysis import study_report

        if not study_id:
            raise UserError("choose a study first.")
        store = StudyStore(visitor(request).store())
        v = study_report.view(store, store.load(study_id))
        return study_report.export(v["study"], v["table"], v["cells"], v["figure"],
                                   export_folder("study"))

    study_inputs = {k: c for k, c in w.items() if k != "preset"}
    started = start.click(do_start, inputs_kwargs={**study_inputs, **data_fields},
                          outputs=[status, chart, found, table, chosen], **HEAVY, **PRIVATE)
    attach_admission(started, lambda request, values: svc.admit_study(visitor(request)), do_start)
    resumed = resume.click(do_resume, chosen, [status, chart, found, table, chosen], **HEAVY, **PRIVATE)
    attach_admission(resumed, lambda request, values: svc.admit_study(visitor(request)), do_resume)
    stop.click(stop_run, None, status, queue=False, **PRIVATE)
    estimate.click(do_estimate, inputs_kwargs={**study_inputs, **data_fields}, outputs=status, **LIGHT, **PRIVATE)
    w["preset"].input(do_preset, inputs_kwargs={**w, **data_fields}, outputs=[status, *study_inputs.values()],
                      **LIGHT, **PRIVATE)
    for c in study_inputs.values():  # an edited spec is no longer the preset it started from
        c.input(lambda: "Custom", None, w["preset"], queue=False, show_progress="hidden", **PRIVATE)
    refresh.click(studies_choices, None, chosen, **PRIVATE)
    chosen.input(user_errors(shown_study), chosen, [chart, found, table], **LIGHT, **PRIVATE)
    export.click(do_export, chosen, files, **PRIVATE)
    return w
