"""What every tab shares: widgets built from a config's fields, the data selection read by name, the
UserError -> gr.Error turn, the Start/Stop/Estimate wiring of a method, and the queues."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import sys
import time

import gradio as gr
import pandas as pd

from comparisons.ground.config import kind_of, label_of, optional
from comparisons.ground.device import gpu_present, on_zerogpu
from comparisons.ground.errors import UserError
from comparisons.serving import service as svc
from comparisons.serving.jobs import HEAVY_JOBS, wait_text

HEAVY = dict(concurrency_id="heavy", concurrency_limit=1)  # one queue for training and scoring
LIGHT = dict(concurrency_id="light", concurrency_limit=4)
PRIVATE = dict(api_visibility="private")  # the UI's own events; the public API is ui/api.py
# The Data tab's fields, passed by name to every handler that needs the selection.
DATA_KEYS = ("source", "upload", "text_column", "label_column", "train_size", "eval_size", "seed", "drop_leaked",
             "drop_rows")


def session_key(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "default"


def visitor(request: gr.Request | None) -> svc.Visitor:
    """Who sent the request (comparisons.serving.service.Visitor): the logged-in Hugging Face user where the Space has
    OAuth, else the browser's own cookie, else the page session."""
    cookies = {}
    try:
        cookies = dict(getattr(request, "cookies", None) or {})
    except Exception:  # a request rebuilt without cookies
        cookies = {}
    info = hf_userinfo(request)
    return svc.Visitor.of(session_key(request), cookies.get(svc.VISITOR_COOKIE), info.get("preferred_username"),
                          address=request_address(request), pro=bool(info.get("isPro")))


def request_address(request: gr.Request | None) -> str:
    """The client's address (behind a Space's proxy, the first X-Forwarded-For entry): for rate limits only."""
    from comparisons.running.identity import client_address

    if request is None:
        return ""
    try:
        headers = getattr(request, "headers", None)
        client = getattr(request, "client", None)
        return client_address(headers, getattr(client, "host", None))
    except Exception:  # a request rebuilt without its connection
        return ""


def hf_username(request) -> str | None:
    """The logged-in Hugging Face user of Gradio's OAuth session (a signed cookie; None when not logged in or
    when the app has no OAuth)."""
    return hf_userinfo(request).get("preferred_username") or None


def hf_userinfo(request) -> dict:
    """The Hugging Face login's user info (username, isPro, ...) from Gradio's signed OAuth session; {} when not
    logged in, expired, or the app has no OAuth."""
    if request is None:
        return {}
    underlying = getattr(request, "request", None) or request
    scope = getattr(underlying, "scope", None)
    try:
        session = scope.get("session", {}) if isinstance(scope, dict) else (getattr(underlying, "session", None) or {})
        info = session.get("oauth_info") or {}
    except Exception:
        return {}
    if info.get("expires_at") and info["expires_at"] < time.time():
        return {}
    userinfo = info.get("userinfo") or {}
    return userinfo if isinstance(userinfo, dict) else {}


def app_defaults(config_cls, gpu: bool | None = None) -> dict:
    """The values the app starts from: the config's defaults, with its module's named presets over them:
    "app" (interactive runs) and, where a GPU is present, "gpu" (GPU-sized batches)."""
    presets = getattr(sys.modules[config_cls.__module__], "PRESETS", {})
    values = config_cls.defaults()
    gpu = gpu_present() if gpu is None else gpu
    for name in ("app", "gpu") if gpu else ("app",):
        if name in presets:
            values.update(presets[name].values)
    return values


def config_widgets(config_cls, prefix: str, defaults: dict) -> dict[str, gr.components.Component]:
    """{field name: component} for every field the app shows, in two rows: the fields placed "main",
    then "More settings". Labels, help, choices and defaults come from the field; element ids are
    `<prefix>-<field-name>`."""
    fields = [f for f in dataclasses.fields(config_cls) if f.metadata.get("place") in ("main", "more")]
    widgets = {}
    with gr.Row():
        for f in fields:
            if f.metadata["place"] == "main":
                widgets[f.name] = widget_for(f, prefix, defaults[f.name])
    more = [f for f in fields if f.metadata["place"] == "more"]
    with gr.Accordion("More settings", open=False, elem_id=f"{prefix}-more"):
        for i in range(0, len(more), 4):
            with gr.Row():
                for f in more[i: i + 4]:
                    widgets[f.name] = widget_for(f, prefix, defaults[f.name])
    return widgets


def widget_for(f: dataclasses.Field, prefix: str, value):
    m, kind = f.metadata, kind_of(f)
    common = dict(label=label_of(f), info=m["help"], elem_id=f"{prefix}-{f.name.replace('_', '-')}")
    if m["choices"]:
        return gr.Radio(list(m["choices"]), value=value, **common)
    if m["suggestions"]:
        return gr.Dropdown(list(m["suggestions"]), value=value, allow_custom_value=True, **common)
    if kind == "bool":
        if f.name == "torch_compile" and on_zerogpu():  # ZeroGPU lends the GPU per call: never offered there
            return gr.Checkbox(value=False, interactive=False, **{**common, "info": "not available on ZeroGPU"})
        return gr.Checkbox(value=value, **common)
    if kind in ("int", "float") and optional(f):  # empty = the field's default rule (a Number would send 0)
        return gr.Textbox(value="" if value is None else str(value), placeholder="default", **common)
    if kind in ("int", "float"):
        return gr.Number(value=value, precision=0 if kind == "int" else None, **common)
    return gr.Textbox(value=value, lines=2 if "\n" in str(value) else 1, **common)


def stop_run(request: gr.Request = None) -> str:
    """Stop the visitor's own running job (Gradio injects the request only into an annotated parameter)."""
    return svc.request_stop(session_key(request))


def job_handler(kind: str, method: str, shown):
    """A Start button's handler: the settings and the Data tab's fields arrive by name; the job (a run, a
    k-sweep, Run all) runs on the device (ui.workers); each RunUpdate becomes component updates via `shown`."""
    from . import workers

    @user_errors
    def handler(request: gr.Request = None, progress=gr.Progress(), **values):
        settings, data_values = split_data(values)
        selected_data(data_values, request)
        settings["seed"] = data_values["seed"]
        workers.check_fits_zerogpu(kind, method, settings, data_values, visitor(request))
        with heavy_turn(request):
            for u in workers.run_job(kind, method, settings, data_values, visitor(request)):
                progress(u.progress[0], desc=f"{u.step}: {u.progress[1]}" if u.step else u.progress[1])
                yield shown(u)

    handler.__name__ = f"{kind}_{method or 'all'}_ui"
    return handler


@contextlib.contextmanager
def heavy_turn(request):
    """The heavy queue reached this visitor's job: counted as running until it ends (comparisons.serving.jobs)."""
    HEAVY_JOBS.start(session_key(request))
    try:
        yield
    finally:
        HEAVY_JOBS.finish(session_key(request))


def admit_values(kind: str, method: str, claim: bool):
    """check(request, values) for a job of the app's tabs: the visitor's gate and share (service.admit_job)."""
    def check(request, values: dict) -> int:
        if claim:  # the queue's own admission: the share alone (cheap); the rest is checked when the job starts
            return svc.admit_job(visitor(request), kind, method, {}, None, claim=True)
        settings, data_values = split_data(dict(values))
        data = selected_data(data_values, request) if data_values else None
        if data_values:
            settings["seed"] = data_values["seed"]
        return svc.admit_job(visitor(request), kind, method, settings, data, claim=claim)
    return check


def announce_handler(kind: str, method: str):
    """What a Start button does first, outside the heavy queue: admit the job (the visitor's gate and share of the
    queue, comparisons.serving.jobs), with its estimate, and tell the visitor how many heavy jobs are ahead and how long
    they should take. A job that may not run is refused here, with its reason, before it is queued."""
    admit = admit_values(kind, method, claim=False)

    @user_errors
    def announce(request: gr.Request = None, **values):
        return wait_text(*HEAVY_JOBS.ahead(admit(request, values)))

    announce.__name__ = f"announce_{kind}_{method or 'all'}"
    return announce


def start_job(button, kind: str, method: str, shown, inputs: dict, status, outputs: list) -> None:
    """Announce the job (light queue), then run it in the heavy queue; the heavy event itself is admitted when it
    is queued, so that calling it directly skips nothing."""
    handler = job_handler(kind, method, shown)
    dep = button.click(announce_handler(kind, method), inputs_kwargs=inputs, outputs=status, **LIGHT,
                       **PRIVATE).success(handler, inputs_kwargs=inputs, outputs=outputs, **HEAVY, **PRIVATE)
    attach_admission(dep, admit_values(kind, method, claim=True), handler)


# ---------------------------------------------------------------- admission when an event is queued


def attach_admission(dependency, check, like) -> None:
    """Run `check(request, values)` when the event is queued, before it takes a place in the queue: a UserError
    refuses it there with its message (gradio_client raises it as a ValidationError; the page shows it). `like` is
    the event's function, whose signature the check's values follow."""
    from gradio.context import get_blocks_context

    block_fn = get_blocks_context().fns[dependency["id"]]
    block_fn.validator = admission(check, len(block_fn.inputs), like)


def admission(check, n_inputs: int, like):
    """A Gradio validator with the signature of `like` that calls check(request, values)."""
    signature = inspect.signature(like)

    def validate(*args, **kwargs):
        bound = signature.bind_partial(*args, **kwargs)
        values, request = {}, None
        for name, value in bound.arguments.items():
            kind = signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                values.update(value)
            elif name == "request":
                request = value
            elif name not in ("progress", "token"):
                values[name] = value
        try:
            check(request, values)
        except UserError as e:
            return _verdicts(n_inputs, str(e))
        return _verdicts(n_inputs, None)

    validate.__signature__ = signature
    validate.__annotations__ = dict(getattr(like, "__annotations__", {}))
    validate.__name__ = f"admit_{getattr(like, '__name__', 'job')}"
    return validate


def _verdicts(n_inputs: int, refusal: str | None):
    """What a validator returns: one gr.validate per input (a lone one for one input); with no inputs a refusal
    can only be an error."""
    if n_inputs == 0:
        if refusal:
            raise gr.Error(refusal)
        return []
    first = gr.validate(refusal is None, refusal or "")
    if n_inputs == 1:
        return first
    return [first] + [gr.validate(True, "")] * (n_inputs - 1)


def method_buttons(prefix: str, start_label: str, *extra: tuple[str, str]) -> list:
    """Start, Stop and Estimate, and any `extra` (label, id suffix) buttons, in one row; element ids are
    `<prefix>-start`, `<prefix>-stop`, `<prefix>-estimate`, `<prefix>-<suffix>`."""
    with gr.Row():
        buttons = [gr.Button(start_label, variant="primary", elem_id=f"{prefix}-start"),
                   gr.Button("Stop", variant="stop", elem_id=f"{prefix}-stop"),
                   gr.Button("Estimate", elem_id=f"{prefix}-estimate")]
        buttons += [gr.Button(label, elem_id=f"{prefix}-{suffix}") for label, suffix in extra]
    return buttons


def wire_method(method: str, widgets: dict, data_fields: dict, buttons: list, status, outputs: list, shown) -> None:
    """Start runs the method (heavy queue), Stop stops the visitor's job, Estimate sizes it first."""
    start, stop, estimate = buttons[:3]
    inputs = {**widgets, **data_fields}
    start_job(start, "run", method, shown, inputs, status, outputs)
    stop.click(stop_run, None, status, queue=False, **PRIVATE)
    estimate.click(estimate_handler(method), inputs_kwargs=inputs, outputs=status, **LIGHT, **PRIVATE)


def estimate_handler(method: str):
    """The Estimate button's handler for a method tab: peak memory and time before the run starts."""
    @user_errors
    def estimate(request: gr.Request = None, **values):
        from .workers import ZEROGPU_GPU

        settings, data_values = split_data(values)
        data = selected_data(data_values, request)
        settings["seed"] = data_values["seed"]
        return svc.estimate_text(method, settings, data, gpu_name=ZEROGPU_GPU if on_zerogpu() else None,
                                 store=visitor(request).store())
    return estimate


def split_data(values: dict) -> tuple[dict, dict]:
    """(method settings, data fields) from one handler's keyword values."""
    data = {k: values.pop(k) for k in DATA_KEYS if k in values}
    return values, data


def selected_data(data_fields: dict, request: gr.Request | None):
    """The TweetData of the Data tab's fields; remembered as the visitor's selection (the API uses it)."""
    selection = svc.selection_from_ui(**data_fields)
    svc.session(session_key(request)).selection = selection
    return svc.load_selection(selection)


def user_errors(fn):
    """A handler whose UserError is shown by Gradio as an error toast (programming errors keep their
    tracebacks in the log). Works for plain and generator handlers, and keeps the signature."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except UserError as e:
                raise gr.Error(str(e)) from None
        return gen

    @functools.wraps(fn)
    def plain(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            raise gr.Error(str(e)) from None
    return plain


NOTHING_YET = "nothing yet: run a method (Fine-tune, Few-shot, RAG or Peers), or Run all in Compare"


def nothing_yet(note: str = NOTHING_YET, heading: str = "Nothing yet") -> pd.DataFrame:
    """What an empty table shows: one line saying why, instead of a bare header row "1 2 3"."""
    return pd.DataFrame({heading: [note]})


# Each read-out table's empty note, by elem_id: Gradio rebuilds a component from its constructor's arguments when an
# update changes its properties, so the note is looked up by an argument that survives, not kept on the instance.
_EMPTY_NOTES: dict[str, tuple[str, str]] = {}
_dataframe_postprocess = gr.Dataframe.postprocess


def _postprocess_or_note(self, value):
    note = _EMPTY_NOTES.get(getattr(self, "elem_id", None) or "")
    if note and (value is None or (isinstance(value, (pd.DataFrame, list)) and len(value) == 0)):
        value = nothing_yet(*note)
    return _dataframe_postprocess(self, value)


gr.Dataframe.postprocess = _postprocess_or_note


def Table(*, empty: str = NOTHING_YET, heading: str = "Nothing yet", **kwargs) -> gr.Dataframe:  # noqa: N802
    """A read-out Dataframe that says, in one line, what fills it while it is empty (an empty frame sent later
    too, instead of a bare header row). A plain Dataframe: a subclass of a Gradio component would write a .pyi
    beside this file."""
    kwargs.setdefault("elem_id", f"tpr-table-{len(_EMPTY_NOTES)}")
    _EMPTY_NOTES[kwargs["elem_id"]] = (empty, heading)
    kwargs.setdefault("value", nothing_yet(empty, heading))
    kwargs.setdefault("interactive", False)
    return gr.Dataframe(**kwargs)


def Download(label: str, **kwargs) -> gr.File:  # noqa: N802 (used as a component class)
    """A file the app hands out (an export, a model): read-only and low, so that before there is one it is a thin
    strip rather than a large empty drop zone."""
    kwargs.setdefault("interactive", False)
    kwargs.setdefault("elem_classes", ["tpr-download"])
    return gr.File(label=label, **kwargs)  # its height comes from CSS: Gradio's `height` leaves the empty box at 264 px


# The app's few style rules (given to launch: Gradio 6 takes css there). An empty file box is a thin strip.
CSS = """.tpr-download .empty.large {min-height: 0; height: 3.5rem}
.tpr-download .empty.large .icon {height: 1.5rem}"""


def plot_rows(df: pd.DataFrame, min_x: int = 1):
    """Shows a chart once it has something to draw (charts start hidden: an empty one is a grey box); no update
    before that, as a Gradio plot first sent no rows never draws later ones. `min_x`: the distinct x values a
    line needs (a one-point curve is a dot with meaningless axis ticks)."""
    if not len(df) or df.iloc[:, 0].nunique() < min_x:
        return gr.skip()
    return gr.update(value=df, visible=True)


def figure_update(record):
    """A run's confusion matrix, shown once there is one (its plot starts hidden)."""
    from comparisons.analysis import report

    if record is None or not record.metrics:
        return gr.skip()
    return gr.update(value=report.confusion_figure(record), visible=True)


def error_text(e: Exception) -> str:
    return f"**Error:** {e}"
