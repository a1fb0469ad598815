"""The methods, known to the spine and the face only through this registry. Each method package declares one
`Method` (in its `method.py`, or its `__init__.py` for a package of its own): its name, family, config, entry point
and the hooks the spine calls (its label, result lines, estimates, Try-it classifier, model-card facts, study and
board entries). Nothing outside a method's folder tests a method's name; `tests/unit/test_registry.py` greps for it.

Methods come from the built-in packages below, from the modules named in `TPR_METHODS` (comma-separated, for a
method of one's own: `TPR_METHODS=keywords python app.py`), and from `register()`. Torch-free: a method module
imports its heavy libraries inside its hooks."""
from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from comparisons.ground.errors import UserError

FAMILIES = ("tune", "prompt", "retrieve", "peer", "adapt")
# The built-in methods, in the order they are shown (tabs, Run all, the API's endpoints).
BUILTIN = ("finetune.method", "fewshot.method", "rag.method", "peers.baseline_method", "peers.setfit_method",
           "finetune.adapt_method")


def _nothing(*_args, **_kwargs):
    return None


def _no_lines(*_args, **_kwargs) -> list:
    return []


def _no_facts(*_args, **_kwargs) -> dict:
    return {}


def _no_parallel(_config) -> bool:
    return False


def _advice(_config) -> str:
    return "Try a smaller batch size or a smaller model."


@dataclass(frozen=True)
class Method:
    """One method as the spine and the face see it. Every hook has a default, so a new method declares only
    what it has (a keyword-rules classifier needs a name, a config and an entry point)."""
    name: str  # the registry key: CLI --method, API /run_<name>, run records' "method"
    family: str  # tune, prompt, retrieve, peer or adapt
    title: str  # how people read it: "RAG", "TF-IDF baseline"
    config: str  # "module:Class", a torch-free ConfigBase dataclass (the CLI's flags and the app's widgets)
    entry: str  # module with run(config, data, *, on_event, stop, store) -> RunRecord
    phrase: str = ""  # how a sentence names it, when not its title ("the TF-IDF baseline")
    blurb: str = ""  # one paragraph for its section of the Peers tab (methods without a tab of their own)
    classifier: bool = True  # its runs have an accuracy (adaptation makes a language model, not a classifier)
    tab: str | None = None  # "module:build" for a tab of its own; None: a section of the Peers tab
    prefix: str = ""  # its widgets' element ids in the Peers tab (default: its name)
    gpu: bool = False  # it runs on a GPU when there is one (ZeroGPU lends one per call)
    # studies: the names a study offers ("rag:linear"), short names with the values they fix, and display names
    study_names: tuple[str, ...] = ()
    study_aliases: dict = field(default_factory=dict)  # "lora" -> {"mode": "lora"}
    display: dict = field(default_factory=dict)  # study name -> "RAG linear"
    board_fields: tuple[str, ...] = ()  # the settings a workshop leaderboard shows
    warm: dict = field(default_factory=dict)  # Try it's warm classifiers: kind -> how many kept
    # hooks (record, config and data are the spine's RunRecord, the method's Config and TweetData)
    label: Callable | None = None  # (config: dict, resolved: dict) -> short name
    result_lines: Callable = _no_lines  # (record) -> Markdown lines after the shared head
    summary: Callable = _no_facts  # (record) -> extra keys of the CLI's JSON
    handicaps: Callable = _no_lines  # (record) -> why it may rank below what the method can do
    findings: Callable = _no_facts  # (done records, newest) -> {concept: sentence}: the Guide, with your runs
    card: Callable = _no_facts  # (record) -> model-card facts: {"base_model", "lines", "tags", "no_metrics"}
    memory: Callable = _nothing  # (config, data, gpu_name) -> comparisons.ground.estimate.Estimate | None
    seconds: Callable = _nothing  # (config, data, gpu_name) -> (seconds, parts) | None
    saved_bytes: Callable = _nothing  # (config) -> bytes of its saved model, None when it saves none
    data_parallel: Callable = _no_parallel  # (config) -> trains with the Trainer's data parallelism under torchrun
    advice: Callable = _advice  # (config) -> what to change when it does not fit the device
    run_all: Callable = _no_lines  # (gpu: bool) -> [(values, why)]: its steps in Run all
    left_out: Callable = _nothing  # (gpu: bool) -> why Run all leaves it out, or None
    try_it: Callable = _nothing  # (context) -> adds its rows to Try it (comparisons.serving.service.TryContext)
    details: Callable = _nothing  # (context) -> adds what it shows of one eval tweet (the disagreement browser)
    board_settings: Callable | None = None  # (record) -> the config values a leaderboard entry shows
    # a sweep over one setting (the few-shot k-sweep): run(config, data, values, *, on_event, stop, store, on_record)
    sweep: Callable | None = None
    sweep_field: str = ""
    sweep_values: tuple = ()

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"method {self.name}: family {self.family!r} is not one of {', '.join(FAMILIES)}")

    def config_class(self):
        module, name = self.config.split(":")
        return getattr(importlib.import_module(module), name)

    def entry_point(self):
        return importlib.import_module(self.entry).run

    @property
    def called(self) -> str:
        """How a sentence names it ("the TF-IDF baseline")."""
        return self.phrase or self.title

    def short(self, config: dict, resolved: dict) -> str:
        return self.label(config, resolved) if self.label is not None else self.name

    @property
    def names_in_studies(self) -> tuple[str, ...]:
        return self.study_names or ((self.name,) if self.classifier else ())

    @property
    def widget_prefix(self) -> str:
        return self.prefix or self.name


_lock = threading.Lock()
_methods: dict[str, Method] = {}
_loaded: set[str] = set()


def _load(module_name: str) -> None:
    module = importlib.import_module(module_name)
    found = getattr(module, "METHOD", None)
    if not isinstance(found, Method):
        raise ValueError(f"{module_name} declares no METHOD = comparisons.ground.registry.Method(...)")
    _methods.setdefault(found.name, found)


def _ensure() -> None:
    from comparisons.ground.settings import settings

    extra = tuple(m.strip() for m in settings().methods.split(",") if m.strip())
    wanted = [m for m in BUILTIN + extra if m not in _loaded]
    if not wanted:
        return
    with _lock:
        for module_name in wanted:
            if module_name not in _loaded:
                _load(module_name)
                _loaded.add(module_name)


def register(method: Method) -> Method:
    """Add a method (replacing one of the same name): it then appears in every surface."""
    _ensure()
    with _lock:
        _methods[method.name] = method
    return method


def unregister(name: str) -> None:
    with _lock:
        _methods.pop(name, None)


def all_methods() -> tuple[Method, ...]:
    _ensure()
    return tuple(_methods.values())


def names() -> tuple[str, ...]:
    return tuple(m.name for m in all_methods())


def get(name: str) -> Method:
    _ensure()
    if name not in _methods:
        raise UserError(f"unknown method '{name}'. Methods: {', '.join(_methods)}.")
    return _methods[name]


def find(name: str) -> Method | None:
    """The method, or None for a record of a method no longer installed (old records still load)."""
    _ensure()
    return _methods.get(name)


def of_family(*families: str) -> tuple[Method, ...]:
    return tuple(m for m in all_methods() if m.family in families)
