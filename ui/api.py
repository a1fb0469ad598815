"""The app's public API, as a `gradio_client` user sees it: deliberately named endpoints with keyword
parameters and defaults, using the caller's current data selection (set by /load_data; the app's
defaults until then). The UI's own events are private; these are the only documented endpoints.

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/")
    client.predict(source="sample", api_name="/load_data")
    client.predict(mode="knn", api_name="/run_rag")
    client.predict("so happy today", api_name="/classify")
"""


import dataclasses
import functools
import inspect

import gradio as gr

from comparisons.analysis import report
from comparisons.ground import registry
from comparisons.ground.config import kind_of, optional
from comparisons.running.api import config_class
from comparisons.serving import service as svc

from . import workers
from .common import HEAVY, LIGHT, app_defaults, attach_admission, heavy_turn, session_key, user_errors, visitor

_TYPES = {"bool": bool, "int": int, "float": float, "str": str}
API_SOURCES = {"hub": svc.SOURCE_HUB, "sample": svc.SOURCE_SAMPLE}


MAX_API_TEXT = 100_000  # the longest text any public endpoint takes (a study's settings are the longest in use)


def typed(fn):
    """Check a public endpoint's arguments against its annotations before it runs: a client can send any JSON (a
    number for a board code, a list for a source), and each wrong type is a one-line error naming the parameter."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        bound = signature.bind_partial(*args, **kwargs)
        for name, value in list(bound.arguments.items()):
            parameter = signature.parameters[name]
            if parameter.annotation in (gr.Request, "gr.Request") or name in ("request", "token"):
                continue
            bound.arguments[name] = _checked(name, value, parameter)
        return fn(*bound.args, **bound.kwargs)

    return checked


def _checked(name: str, value, parameter: inspect.Parameter):
    from comparisons.ground.config import shown_value

    hint = str(parameter.annotation)
    optional = "None" in hint or parameter.default is None
    if value is None:
        if optional or parameter.default is inspect.Parameter.empty:
            return None if optional else ""
        return parameter.default
    kind = next((k for k in ("bool", "int", "float", "str") if k in hint), "value")
    wrong = svc.UserError(f"{name} must be a {kind}, got {shown_value(value)}.")
    if "bool" in hint:
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        raise wrong
    if "int" in hint:
        if isinstance(value, bool):
            raise wrong
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError, OverflowError):
            raise wrong from None
    if "float" in hint:  # a number (an int is one too), finite: NaN and infinity compare with nothing
        import math

        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong
        if not math.isfinite(value):
            raise svc.UserError(f"{name} must be a finite number, got {shown_value(value)}.")
        return float(value)
    if "str" in hint:
        if not isinstance(value, str):
            raise wrong
        if len(value) > MAX_API_TEXT:
            raise svc.UserError(f"{name} is {len(value):,} characters long; it takes at most {MAX_API_TEXT:,}.")
    return value


def _selection(request):
    return svc.current_selection(session_key(request))


def method_endpoint(method: str):
    """A function whose keyword parameters are the method config's app fields (same defaults as the UI),
    for gr.api: runs the method on the caller's selection and returns the CLI's JSON summary."""
    cls = config_class(method)
    defaults = app_defaults(cls)
    fields = [f for f in dataclasses.fields(cls) if f.metadata.get("place") in ("main", "more")]
    params, hints = [], {}
    for f in fields:
        hint = _TYPES[kind_of(f)] | None if optional(f) else _TYPES[kind_of(f)]
        params.append(inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=defaults[f.name],
                                        annotation=hint))
        hints[f.name] = hint
    params.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                    annotation=gr.Request))
    signature = inspect.Signature(params, return_annotation=dict)

    def endpoint(*args, **kwargs):
        """Run the method; a refusal (a bad setting, a cap) is an error, a run that failed its work a summary."""
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        request = values.pop("request")
        with heavy_turn(request):  # the admitted job ends here however the call ends
            selection = _selection(request)
            values["seed"] = selection.seed
            workers.check_fits_zerogpu("run", method, values, selection, visitor(request))
            last = None
            for last in workers.run_job("run", method, values, selection, visitor(request)):
                pass
        if last.record is None and last.error:  # refused before any record: a user error, not a run
            raise svc.UserError(last.error)
        return svc.record_summary(last.record, last.error)

    def admit(request, values: dict) -> int:
        """When the call is queued: the visitor's share of the heavy queue (service.admit_job)."""
        return svc.admit_job(visitor(request), "run", method, values, None, claim=True)

    endpoint.admit = admit
    endpoint.__signature__ = signature
    endpoint.__annotations__ = {**hints, "request": gr.Request, "return": dict}
    endpoint.__name__ = endpoint.__qualname__ = f"run_{method}"
    endpoint.__doc__ = f"Run {method} on your current data selection; returns the run's summary (as the CLI's --json)."
    return user_errors(endpoint)


def load_data(source: str = "hub", text_column: str = "", label_column: str = "", train_size: str = "",
              eval_size: str = "", seed: int = 42, drop_leaked: bool = False, request: gr.Request = None) -> dict:
    """Choose the data selection your later calls use: source 'hub' (the bundled sample when offline) or
    'sample'; sizes a number or 'all'. Returns the overview and summary."""
    if source not in API_SOURCES:
        raise svc.UserError(f"source must be one of {', '.join(API_SOURCES)} (uploads go through the app's Data "
                            f"tab), got {source!r}.")
    selection = svc.selection_from_ui(API_SOURCES[source], None, text_column, label_column, train_size, eval_size,
                                      seed, drop_leaked)
    data = svc.load_selection(selection)
    svc.session(session_key(request)).selection = selection
    o = report.data_overview(data)
    return {"markdown": o["markdown"], "notices": o["notices"], "fingerprint": data.fingerprint,
            "summary": o["summary"], "leakage": o["leakage_report"]}


def classify(text: str, request: gr.Request = None) -> dict:
    """Every method with a finished run on your selection's eval split labels one text."""
    out = workers.try_it(text, _selection(request), visitor(request))
    return {"answers": out["table"].to_dict("records"), "neighbours": out["neighbours"], "prompt": out["prompt"],
            "setfit_neighbours": out["setfit_neighbours"]}


def run_all(request: gr.Request = None) -> dict:
    """Run all (LoRA, full, few-shot balanced and retrieved, RAG) on your selection, one after another."""
    records = []
    with heavy_turn(request):
        selection = _selection(request)
        workers.check_fits_zerogpu("all", "", {}, selection, visitor(request))
        for u in workers.run_job("all", "", {}, selection, visitor(request)):
            records = u.records
    return {"runs": [svc.record_summary(r) for r in records]}


def admit_run_all(request, values: dict) -> int:
    return svc.admit_job(visitor(request), "all", "", {}, None, claim=True)


def _study_spec(request, methods: str, axis: str, axis2: str, seeds, eval_size: str, metric: str,
                settings: str) -> dict:
    """The study a visitor asks for, on their selection's data source (never a path they name)."""
    from comparisons.running.study import StudySpec

    from .study_tab import parse_settings

    sel = _selection(request)
    try:
        seeds = int(seeds)
    except (TypeError, ValueError, OverflowError):
        raise svc.UserError(f"seeds must be a whole number, got {str(seeds)[:40]!r}.") from None
    return StudySpec(methods=[m.strip() for m in str(methods or "").split(",") if m.strip()], axis=str(axis or ""),
                     axis2=str(axis2 or "") or None, seeds=seeds, eval_size=str(eval_size or "300"),
                     metric=str(metric or ""), settings=parse_settings(str(settings or "")), data=sel.source,
                     text_column=sel.text_column, label_column=sel.label_column, drop_leaked=sel.drop_leaked,
                     seed=sel.seed, train_size=sel.train_size).to_dict()


def run_study(methods: str = "lora,fewshot:balanced,rag:knn,rag:linear", axis: str = "train_size=32,128,512",
              axis2: str = "", seeds: int = 3, eval_size: str = "300", metric: str = "accuracy", settings: str = "",
              resume: str = "", request: gr.Request = None) -> dict:
    """A study on your selection's data source: methods (comma-separated) over an axis (field=v1,v2) and an
    optional second, × seeds, on one fixed eval split; `settings` as 'field=value, ...'; `resume` a study id to
    run its unfinished cells. Returns the study as the CLI's `study --json`."""
    from comparisons.analysis import study_report
    from comparisons.running.study import StudyStore

    who, last = visitor(request), None
    with heavy_turn(request):
        spec = None if resume else _study_spec(request, methods, axis, axis2, seeds, eval_size, metric, settings)
        workers.check_study_fits_zerogpu(spec, resume or None, who)
        for last in workers.run_study(spec, resume or None, who):
            pass
    if last is None or not last.study_id:
        raise svc.UserError(last.error if last and last.error else "the study did not start.")
    store = StudyStore(who.store())
    v = study_report.view(store, store.load(last.study_id))
    return study_report.to_json(v["study"], v["table"], v["cells"])


def admit_study(request, values: dict) -> int:
    return svc.admit_study(visitor(request))


def compare(fingerprint: str = "", request: gr.Request = None) -> dict:
    """Your finished runs on one eval split (the newest run's unless named), as the CLI's compare --json."""
    return svc.compare_json(visitor(request).store(), fingerprint or None)


def recommend(study: str = "", fingerprint: str = "", labels: int | None = None, target: float | None = None,
              max_ms: float | None = None, hardware: str = "this machine", max_train_seconds: float | None = None,
              at: int | None = None, request: gr.Request = None) -> dict:
    """The decision card for your study over train_size (or your runs on one eval split), as the CLI's recommend
    --json: per method the accuracy at your labels, labels for the target, ms per tweet, and the recommendation."""
    from comparisons.analysis.decision import Inputs, for_store

    inputs = Inputs(labels=labels, target=target, max_ms=max_ms, hardware=hardware or "this machine",
                    max_train_seconds=max_train_seconds, at=at)
    return for_store(visitor(request).store(), inputs, study or None, fingerprint or None)


def my_runs(request: gr.Request = None) -> dict:
    """Every run of yours (and only yours), newest first, as the CLI's run --json summaries."""
    return {"runs": [svc.record_summary(r) for r in visitor(request).store().list()]}


def delete_run(run_id: str, request: gr.Request = None) -> str:
    """Delete one of your runs (another visitor's run reads as no run at all)."""
    visitor(request).store().delete(run_id)
    return f"deleted run {run_id}"


def push_to_hub(run_id: str, repo: str, private: bool = True, request: gr.Request = None,
                token: gr.OAuthToken | None = None) -> str:
    """Push one of your saved models, with its model card, to the Hub repo `repo` (your-name/model-name), with your
    Hugging Face login's token. Returns the repo's URL."""
    return svc.push_model(visitor(request), run_id, repo, token.token if token else None, private=bool(private))


def create_board(title: str = "", nickname: str = "", fix_selection: bool = True, request: gr.Request = None) -> dict:
    """Host a workshop board: returns its code. With fix_selection, your current data selection (/load_data) is
    every participant's, so that all entries are scored on the same eval split."""
    return svc.create_board(visitor(request), nickname, title, bool(fix_selection))


def join_board(code: str, nickname: str = "", request: gr.Request = None) -> dict:
    """Join a board with its code; your finished runs on its eval split appear on its leaderboard."""
    return svc.join_board(visitor(request), code, nickname)


def board(code: str, request: gr.Request = None) -> dict:
    """A board's leaderboard, for its members: nickname, method, settings, accuracy with its 95 % interval, time
    (and, for its host, each entry's run id)."""
    return svc.board_json(code, visitor(request))


def remove_board_entry(code: str, run_id: str, request: gr.Request = None) -> dict:
    """The host takes an entry off their board."""
    store = svc.board_store()
    b = store.remove(code, visitor(request).id, run_id)
    return svc.board_json(b.code, visitor(request))


def freeze_board(code: str, request: gr.Request = None) -> dict:
    """The host freezes their board: the leaderboard is kept as it stands."""
    b = svc.board_store().freeze(code, visitor(request).id)
    return svc.board_json(b.code, visitor(request))


def stop(request: gr.Request = None) -> str:
    """Stop your running job (within one step or batch); it is recorded as stopped."""
    return svc.request_stop(session_key(request))


def register() -> None:
    """Add the public endpoints to the Blocks being built."""
    gr.api(user_errors(typed(load_data)), api_name="load_data", **LIGHT)
    gr.api(user_errors(typed(classify)), api_name="classify", **LIGHT)
    for method in registry.names():  # /run_<name> for every method in the registry
        endpoint = method_endpoint(method)
        attach_admission(gr.api(endpoint, api_name=f"run_{method}", **HEAVY), endpoint.admit, endpoint)
    attach_admission(gr.api(user_errors(run_all), api_name="run_all", **HEAVY), admit_run_all, run_all)
    attach_admission(gr.api(user_errors(typed(run_study)), api_name="run_study", **HEAVY), admit_study, run_study)
    gr.api(user_errors(typed(compare)), api_name="compare", **LIGHT)
    gr.api(user_errors(typed(recommend)), api_name="recommend", **LIGHT)
    for fn in (my_runs, delete_run, push_to_hub, create_board, join_board, board, remove_board_entry, freeze_board):
        gr.api(user_errors(typed(fn)), api_name=fn.__name__, **LIGHT)
    gr.api(stop, api_name="stop", queue=False)
