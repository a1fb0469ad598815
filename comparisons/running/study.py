"""Studies: a grid of ordinary runs, summarised with uncertainty. One or two axes (the train size, or any
config field such as learning_rate, epochs, lora_r, shots, k) × methods × seeds.

- The seed redraws the train subset (and the demonstrations, the weights' init); the eval split is drawn
  once from the study's base seed, so every cell is scored on the same tweets and is comparable. For one
  seed a smaller train subset lies inside a larger one (comparisons.ground.data.subset).
- Every cell is a normal RunRecord made through `comparisons.running.api.run_method`, tagged with the study's id
  and its cell (`RunRecord.study`). The study itself is one small JSON record beside the runs
  (`<runs>/studies/<id>.json`): its spec, its state and the cells' run ids.
- Starting a study again (`resume`) skips the cells that completed, so a Stop or a killed process loses
  at most the cell in flight.
- Everything the spec asks for is checked, and every cell's config built, before the first cell runs.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from comparisons.ground import registry
from comparisons.ground.data import TweetData, parse_size, subset
from comparisons.ground.errors import UserError
from comparisons.ground.runs import RUN_ID, RunRecord, RunStore, _pid_alive, study_tag, write_json_atomic
from comparisons.running.api import Selection, config_class, make_config, run_method

TRAIN_SIZE = "train_size"
METRICS = ("accuracy", "macro_f1")
MAX_SEEDS = 50
MAX_CELLS = 2000
DEFAULT_TRAIN = 1000  # a sweep's train size unless its spec names one (as a single run's default)
# A study names a method as its registry name, a short name it declares (lora: finetune with mode lora), or
# `method:choice` where the choice is a value of one of its fields with choices (fewshot:balanced, rag:linear).


def _aliases() -> dict:
    return {alias: (m.name, dict(values)) for m in registry.all_methods() for alias, values in m.study_aliases.items()}


def method_choices() -> tuple[str, ...]:
    """The names a study offers (the app's checkboxes), from every classifier in the registry."""
    return tuple(n for m in registry.all_methods() for n in m.names_in_studies)


# What every study sets unless its settings say otherwise: no model files per cell (a full fine-tuning
# saves ~540 MB; a study of 45 cells would fill a Space's disk).
STUDY_SETTINGS = {"save_model": False}
def display(name: str) -> str:
    """How a study's method name reads: the display its method declares ("LoRA", "RAG linear"), else its title."""
    for method in registry.all_methods():
        if name in method.display:
            return method.display[name]
    method = registry.find(name)
    return method.title if method is not None else name


# ---------------------------------------------------------------- the spec


@dataclass(frozen=True)
class MethodSpec:
    name: str  # as written: "lora", "fewshot:balanced"
    method: str  # a registry method
    values: dict  # the settings the name fixes

    @property
    def display(self) -> str:
        return display(self.name)


def parse_method(text: str) -> MethodSpec:
    name = (text or "").strip()
    base, _, choice = name.partition(":")
    aliases = _aliases()
    if base in aliases and not choice:
        method, values = aliases[base]
        return MethodSpec(name, method, dict(values))
    if registry.find(base) is None:
        raise UserError(f"unknown method '{name}'. Methods: {', '.join(method_choices())} (or any of "
                        f"{', '.join(registry.names())}, optionally as method:choice).")
    if not registry.get(base).classifier:
        raise UserError(f"'{base}' makes a language model, not a classifier with an accuracy, so a study cannot chart "
                        f"it: run it on its own, then study finetune or fewshot with model=run:<its run id>.")
    if not choice:
        return MethodSpec(name, base, {})
    for f in dataclasses.fields(config_class(base)):
        if choice in (f.metadata.get("choices") or ()):
            return MethodSpec(name, base, {f.name: choice})
    options = sorted({str(c) for f in dataclasses.fields(config_class(base)) for c in f.metadata.get("choices") or ()})
    raise UserError(f"unknown choice '{choice}' for method {base}. Choices: {', '.join(options) or 'none'}.")


def field_names(methods: list[MethodSpec]) -> dict[str, str]:
    """Every spelling of a settable field -> its field name: the name, its CLI flags (--lr), hyphenated."""
    out = {TRAIN_SIZE: TRAIN_SIZE, "train-size": TRAIN_SIZE}
    for m in methods:
        for f in dataclasses.fields(config_class(m.method)):
            out[f.name] = f.name
            out[f.name.replace("_", "-")] = f.name
            for flag in f.metadata.get("flags", ()):
                out[flag.lstrip("-")] = f.name
    return out


def methods_with(name: str, methods: list[MethodSpec]) -> list[MethodSpec]:
    return [m for m in methods if name in {f.name for f in dataclasses.fields(config_class(m.method))}]


@dataclass(frozen=True)
class Axis:
    name: str  # a config field, or "train_size"
    values: tuple

    @property
    def text(self) -> str:
        return f"{self.name}={','.join(map(str, self.values))}"


def parse_axis(spec, methods: list[MethodSpec], what: str = "--axis") -> Axis:
    """`field=v1,v2,...` (or {"field": ..., "values": [...]}) -> Axis; the field must belong to every method."""
    if isinstance(spec, dict):
        raw_name, values = str(spec.get("field", "")), list(spec.get("values") or [])
    else:
        raw_name, sep, rest = str(spec or "").partition("=")
        if not sep:
            raise UserError(f"{what} '{spec}': write it as field=value,value,... e.g. train_size=32,128,512.")
        values = [v.strip() for v in rest.split(",") if v.strip()]
    raw_name = raw_name.strip()
    names = field_names(methods)
    if raw_name == "seed":
        raise UserError(f"{what}: seeds are their own dimension of a study; use --seeds N.")
    if raw_name not in names:
        raise UserError(f"{what}: unknown field '{raw_name}'. Fields of these methods: train_size, "
                        f"{', '.join(sorted({v for v in names.values() if v != TRAIN_SIZE}))}.")
    name = names[raw_name]
    if not values:
        raise UserError(f"{what} {name}: no values given.")
    if len(set(map(str, values))) != len(values):
        raise UserError(f"{what} {name}: a value is repeated.")
    if name != TRAIN_SIZE:
        lacking = [m.name for m in methods if m not in methods_with(name, methods)]
        if lacking:
            raise UserError(f"{what} {name}: {', '.join(lacking)} has no setting '{name}'; every method of a sweep "
                            "must have the swept field (run those methods in a study of their own).")
        fixed = [m.name for m in methods if name in m.values]
        if fixed:
            raise UserError(f"{what} {name}: {', '.join(fixed)} fixes {name} by its name; sweep "
                            f"{fixed[0].split(':')[0]} instead.")
    else:
        for v in values:
            if str(v).strip().lower() != "all":
                try:
                    n = int(str(v))
                except ValueError:
                    raise UserError(f"{what} train_size: '{v}' is not a number or 'all'.") from None
                if n < 1:
                    raise UserError(f"{what} train_size: sizes must be at least 1, got {n}.")
    return Axis(name, tuple(values))


@dataclass
class StudySpec:
    """What a study runs: the grid, the data selection, and settings shared by its methods."""

    methods: list[str]
    axis: str | dict  # "train_size=32,128,512"
    axis2: str | dict | None = None
    seeds: int = 3
    eval_size: str | int = 300
    train_size: str | int | None = None  # when the train size is not an axis: 1,000, or all where fewer
    metric: str = "accuracy"
    settings: dict = field(default_factory=dict)  # field -> value, for every method that has the field
    data: str | None = None  # as --data: a Hub id, a folder, a file, 'sample'; None = the default source
    text_column: str | None = None
    label_column: str | None = None
    test_size: float = 0.2
    drop_leaked: bool = False
    seed: int = 42  # the eval split's seed (seed + 1, as a single run's) and the first cell seed
    name: str = ""

    @classmethod
    def from_dict(cls, d: dict) -> StudySpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"unknown study key(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
        d = dict(d)
        if isinstance(d.get("methods"), str):
            d["methods"] = [m for m in d["methods"].split(",") if m.strip()]
        if "methods" not in d or "axis" not in d:
            raise UserError("a study needs methods and an axis.")
        return cls(**d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def selection(self) -> Selection:
        return Selection(source=self.data, text_column=self.text_column, label_column=self.label_column,
                         seed=self.seed, test_size=self.test_size, drop_leaked=self.drop_leaked)

    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]


@dataclass
class Cell:
    key: str
    method: MethodSpec
    values: dict  # the config values (checked)
    train_size: int
    x: object  # the axis value
    x2: object  # the second axis value, or None
    seed: int


def axis_text(a) -> str:
    if isinstance(a, dict):
        return f"{a.get('field')}={','.join(map(str, a.get('values') or []))}"
    return str(a)


def load_spec(path: str | Path) -> dict:
    """A study file: JSON, or YAML (.yaml/.yml)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"study file not found: {path}")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            d = yaml.safe_load(text)
        else:
            d = json.loads(text)
    except Exception as e:
        raise UserError(f"{p.name}: not a readable study file ({type(e).__name__}: {e}).") from None
    if not isinstance(d, dict):
        raise UserError(f"{p.name}: a study file holds one object (methods, axis, seeds, ...).")
    return d


def _n_train(value, available: int) -> int:
    n = parse_size(value)
    return available if n is None else n


def plan(spec: StudySpec, full: TweetData, max_cells: int = MAX_CELLS) -> list[Cell]:
    """Every cell of the study, seed-major (each seed's grid fills the chart before the next seed), with its
    config checked. A UserError here means nothing has run."""
    if spec.metric not in METRICS:
        raise UserError(f"metric must be one of {', '.join(METRICS)}, got {spec.metric!r}.")
    if not isinstance(spec.seeds, int) or not 1 <= spec.seeds <= MAX_SEEDS:
        raise UserError(f"seeds must be a whole number from 1 to {MAX_SEEDS}, got {spec.seeds!r}.")
    names = [m.strip() for m in spec.methods if str(m).strip()]
    if not names:
        raise UserError("a study needs at least one method.")
    if len(set(names)) != len(names):
        raise UserError("a method is listed twice.")
    methods = [parse_method(m) for m in names]
    axes = [parse_axis(spec.axis, methods, "--axis")]
    if spec.axis2:
        axes.append(parse_axis(spec.axis2, methods, "--axis2"))
        if axes[1].name == axes[0].name:
            raise UserError("--axis and --axis2 name the same field.")
    swept = {a.name for a in axes}
    # A setting of a method that is not in this study is fine (a preset's LoRA settings once LoRA is unticked);
    # one that no method has is a typo.
    names_map = field_names([parse_method(m) for m in method_choices()] + methods)
    settings = {}
    for k, v in (spec.settings or {}).items():
        if k not in names_map or names_map[k] == TRAIN_SIZE:
            raise UserError(f"setting '{k}' is not a field of any method.")
        if names_map[k] in swept:
            raise UserError(f"setting '{k}' is also an axis of the study.")
        settings[names_map[k]] = v
    n_eval = _n_train(spec.eval_size, len(full.test))
    if n_eval > len(full.test):
        raise UserError(f"eval size {n_eval} is larger than the eval split ({len(full.test)} rows).")
    size_axis = [a for a in axes if a.name == TRAIN_SIZE]
    fixed_size = min(DEFAULT_TRAIN, len(full.train)) if spec.train_size in (None, "") else spec.train_size
    sizes = {}
    for v in [*size_axis[0].values] if size_axis else [fixed_size]:
        n = _n_train(v, len(full.train))
        if n > len(full.train):
            raise UserError(f"train size {n} is larger than the train split ({len(full.train)} rows). Choose a "
                            "smaller size or 'all'.")
        if n < full.n_labels:
            raise UserError(f"train size {n} is smaller than the number of labels ({full.n_labels}).")
        sizes[str(v)] = n
    grid = [(x, None) for x in axes[0].values] if len(axes) == 1 else [
        (x, x2) for x in axes[0].values for x2 in axes[1].values]
    n_cells = spec.seeds * len(grid) * len(methods)
    if n_cells > max_cells:  # said before a single cell's config is built
        raise UserError(f"this study has {n_cells:,} cells, more than the {max_cells:,} a study may have here; use "
                        "fewer values, methods or seeds.")
    cells = []
    for seed in spec.seed_list():
        for x, x2 in grid:
            for m in methods:
                values = {**STUDY_SETTINGS, **{k: v for k, v in settings.items() if methods_with(k, [m])}}
                values = {k: v for k, v in values.items() if methods_with(k, [m])}
                values.update(m.values)
                train_size = None if size_axis else sizes[str(fixed_size)]
                for axis, v in zip(axes, (x, x2)):
                    if axis.name == TRAIN_SIZE:
                        train_size = sizes[str(v)]
                    else:
                        values[axis.name] = v
                values["seed"] = seed
                try:
                    config = make_config(m.method, values)
                except UserError as e:
                    where = ", ".join(f"{a.name}={v}" for a, v in zip(axes, (x, x2)))
                    raise UserError(f"{m.name} at {where}: {e}") from None
                key = "|".join([m.name, *(f"{a.name}={v}" for a, v in zip(axes, (x, x2))), f"seed={seed}"])
                cells.append(Cell(key, m, config.to_dict(), train_size, x, x2, seed))
    return cells


def cell_data(spec: StudySpec, full: TweetData, cell: Cell) -> TweetData:
    """The cell's train subset (its seed) over the study's one eval split (the base seed + 1)."""
    return subset(full, cell.train_size, spec.eval_size, seed=cell.seed, eval_seed=spec.seed + 1)


# ---------------------------------------------------------------- presets


@dataclass(frozen=True)
class StudyPreset:
    name: str
    spec: dict
    why: str


_CPU_FINETUNE = {"forgetting_tokens": 0, "n_evals": 1, "curve_size": 32, "train_slice": False, "min_steps": 16,
                 "batch_size": 8}
STUDY_PRESETS = {
    "cpu": StudyPreset("cpu", {
        "methods": ["lora", "fewshot:balanced", "rag:knn", "rag:linear"], "axis": "train_size=32,128,512",
        "seeds": 3, "eval_size": 300, "settings": _CPU_FINETUNE},
        "The bundled models on a 2-core CPU in about 15 minutes (14.0 measured): LoRA trains at "
        "least 16 steps of 8 tweets (so 32 tweets get 4 epochs, 128 and 512 one), with no forgetting probe and one "
        "small curve evaluation; few-shot draws 6 balanced demonstrations from the cell's tweets."),
    "gpu": StudyPreset("gpu", {
        "methods": ["lora", "full"], "axis": "train_size=32,128,512,2048,8192,all", "seeds": 5, "eval_size": "all",
        "settings": {"forgetting_tokens": 0, "min_steps": 30, "batch_size": 32, "eval_batch_size": 512}},
        "Fine-tuning on a GPU, from 32 tweets to all of train, over 5 seeds and the whole eval split: at least 30 "
        "steps of 32 (small sizes take more epochs), no forgetting probe."),
}


def preset_spec(name: str, **over) -> StudySpec:
    if name not in STUDY_PRESETS:
        raise UserError(f"unknown study preset '{name}'. Presets: {', '.join(STUDY_PRESETS)}.")
    d = json.loads(json.dumps(STUDY_PRESETS[name].spec))
    d.update({k: v for k, v in over.items() if v is not None})
    return StudySpec.from_dict(d)


# ---------------------------------------------------------------- the study record


STUDY_STATUSES = ("running", "completed", "stopped", "failed", "interrupted")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Study:
    spec: dict
    study_id: str = ""
    status: str = "running"
    cells: dict = field(default_factory=dict)  # cell key -> run id of its completed run
    failed: dict = field(default_factory=dict)  # cell key -> the error of its last attempt
    n_cells: int = 0
    eval_fingerprint: str = ""
    train_rows: int = 0  # rows of the whole train split ('all' on the chart's axis)
    seconds: float = 0.0  # the cells' run time, summed over every start
    created_at: str = ""
    finished_at: str | None = None
    pid: int = 0
    host: str = ""
    notices: list = field(default_factory=list)
    owner: str = ""  # the visitor whose study it is (comparisons.ground.runs.RunRecord.owner); "" for the CLI's
    where: str = ""  # where its cells ran: "this machine", or the Ray cluster (ray_backend.where_text)

    def __post_init__(self):
        if not self.study_id:
            self.study_id = f"{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-study-{uuid.uuid4().hex[:6]}"
        self.created_at = self.created_at or _now()

    @property
    def label(self) -> str:
        s = self.spec
        axes = " × ".join(axis_text(a) for a in (s.get("axis"), s.get("axis2")) if a)
        methods = ", ".join(s.get("methods", []))
        return f"{s.get('name') or self.study_id}: {methods} over {axes}, {s.get('seeds')} seeds"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Study:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class StudyStore:
    """Study records as `<runs>/studies/<id>.json`, beside the runs they are made of."""

    def __init__(self, runs: RunStore):
        self.runs = runs
        self.root = runs.root / "studies"

    def save(self, study: Study) -> None:
        """A visitor's store saves studies as theirs, and never over another visitor's."""
        if self.runs.owner is not None:
            if study.owner and study.owner != self.runs.owner:
                raise UserError(f"no study '{study.study_id}'.")
            study.owner = self.runs.owner
        self.root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.root / f"{study.study_id}.json", study.to_dict())

    def load(self, study_id: str) -> Study:
        study_id = (study_id or "").strip()
        path = self.root / f"{study_id}.json"
        if not RUN_ID.fullmatch(study_id) or not path.is_file() or not self._visible(path):
            raise UserError(f"no study '{study_id}'. Studies: {', '.join(s.study_id for s in self.list()) or 'none'}.")
        study = Study.from_dict(json.loads(path.read_text(encoding="utf-8")))
        if study.status == "running" and not (study.host == socket.gethostname() and _pid_alive(study.pid)):
            study.status = "interrupted"
        return study

    def _visible(self, path: Path) -> bool:
        return self.runs.owner is None or json.loads(path.read_text(encoding="utf-8")).get("owner") == self.runs.owner

    def list(self) -> list[Study]:
        out = []
        for p in sorted(self.root.glob("*.json")):
            try:
                if not self._visible(p):
                    continue
                out.append(self.load(p.stem))
            except (OSError, ValueError, TypeError, UserError):
                continue
        return sorted(out, key=lambda s: s.created_at, reverse=True)

    def records(self, study: Study) -> dict[str, RunRecord]:
        """cell key -> its completed record."""
        out = {}
        for key, run_id in study.cells.items():
            try:
                out[key] = self.runs.load(run_id)
            except UserError:
                continue  # a deleted run: the cell counts as not done
        return out


def finished_cells(store: StudyStore, study: Study) -> dict[str, str]:
    """cell key -> run id of a completed run: the study's own list, plus runs tagged with the study that
    completed after its last save (a process killed between the run's save and the study's)."""
    done = {k: r.run_id for k, r in store.records(study).items() if r.status == "completed"}
    for r in store.runs.list():
        if r.study.get("study_id") == study.study_id and r.status == "completed" and r.study.get("cell") not in done:
            done[r.study["cell"]] = r.run_id
    return done


def load_full(spec: StudySpec) -> TweetData:
    return spec.selection().load_full()


def estimate_seconds(spec: StudySpec, full: TweetData, cells: list[Cell] | None = None,
                     skip: set | None = None, gpu_name: str | None = None) -> float | None:
    """The study's time from each cell's estimate (comparisons.ground.estimate_run); None if a cell cannot be sized."""
    from comparisons.ground.estimate_run import estimate_for

    total = 0.0
    for cell in cells if cells is not None else plan(spec, full):
        if skip and cell.key in skip:
            continue
        est = estimate_for(cell.method.method, make_config(cell.method.method, cell.values),
                           cell_data(spec, full, cell),
                           gpu_name=gpu_name)
        if est is None:
            return None
        total += est.seconds
    return total


def run_study(spec: StudySpec | None = None, *, runs: RunStore, resume: str | None = None, on_event=None,
              stop=None, on_cell=None, full: TweetData | None = None, backend: str = "local",
              address: str | None = None) -> Study:
    """Run (or resume) a study: each cell not yet completed, through run_method. `on_event` gets the cells' events
    with the cell's key and index added, plus one "cell" event per cell; `on_cell(study, record)` is called after each
    finished cell. `backend`: "local" runs the cells in order in this process; "ray" runs each as a Ray task (a local
    Ray, or the cluster at `address`: comparisons.running.ray_backend), finished cells arriving in any order. Stop ends
    it after the cell in flight locally (which ends as stopped and is rerun on resume), and cancels the queued and
    running tasks on Ray; finished cells are kept either way."""
    if backend not in ("local", "ray"):
        raise UserError(f"unknown backend '{backend}': local or ray.")
    store = StudyStore(runs)
    if resume:
        study = store.load(resume)
        if study.status == "running":
            raise UserError(f"study {study.study_id} is running in process {study.pid}.")
        spec = StudySpec.from_dict(study.spec)
    elif spec is None:
        raise UserError("give a study spec, or the id of a study to resume.")
    full = full if full is not None else load_full(spec)
    cells = plan(spec, full)  # everything checked before the study exists or anything runs
    info = None
    if backend == "ray":  # a bad or unreachable address is said before the study exists or changes
        from comparisons.running import ray_backend

        info = ray_backend.connect(address)
    if not resume:
        study = Study(spec.to_dict())
    done = finished_cells(store, study) if resume else {}
    study.cells = {k: v for k, v in done.items() if k in {c.key for c in cells}}
    study.n_cells, study.status, study.pid, study.host = len(cells), "running", os.getpid(), socket.gethostname()
    study.eval_fingerprint = cell_data(spec, full, cells[0]).fingerprint
    study.train_rows = len(full.train)
    study.finished_at = None
    study.where = ray_backend.where_text(info) if info else "this machine"
    store.save(study)
    emit = on_event or (lambda e: None)
    stopped = False
    broken: dict[str, str] = {}  # method name -> the user error of its first failed cell: its other cells would too

    def outcome(cell: Cell, record: RunRecord | None, error: BaseException | None) -> None:
        if isinstance(error, UserError):
            study.failed[cell.key] = str(error)
            broken[cell.method.name] = str(error)
        elif error is not None:  # the run records itself as failed; the study goes on with the next cell
            study.failed[cell.key] = f"{type(error).__name__}: {error}"
        if record is not None:
            study.seconds = round(study.seconds + (record.timings.get("total_seconds") or 0), 2)
            if record.status == "completed":
                study.cells[cell.key] = record.run_id
                study.failed.pop(cell.key, None)
        store.save(study)
        if on_cell is not None and record is not None:
            on_cell(study, record)

    try:
        todo = []
        for i, cell in enumerate(cells):
            base = {"study_id": study.study_id, "cell": cell.key, "index": i, "total": len(cells)}
            if cell.key in study.cells:
                emit({"event": "cell", "skipped": True, "done": len(study.cells), **base})
                continue
            if backend == "ray":
                todo.append((i, cell))
                continue
            if cell.method.name in broken:
                why = broken[cell.method.name]
                study.failed[cell.key] = f"not run: an earlier cell of {cell.method.name} failed ({why})"
                emit({"event": "cell", "skipped": True, "done": len(study.cells), **base})
                continue
            if stop is not None and stop.is_set():
                stopped = True
                break
            emit({"event": "cell", "skipped": False, "done": len(study.cells), **base})
            data = cell_data(spec, full, cell)
            config = make_config(cell.method.method, cell.values)
            record, error = None, None
            try:
                with study_tag(study.study_id, cell.key):
                    record = run_method(cell.method.method, config, data, store=runs, stop=stop,
                                        on_event=lambda e, b=base: emit({**e, **b}))
            except Exception as e:
                error = e
            outcome(cell, record, error)
            if stop is not None and stop.is_set():
                stopped = True
                break
        if todo:
            stopped = ray_backend.run_cells(spec, full, todo, study, runs, emit=emit, stop=stop, on_record=outcome,
                                            info=info)
    except BaseException:
        study.status = "failed"
        study.finished_at = _now()
        store.save(study)
        raise
    complete = len(study.cells) == len(cells)
    study.status = "completed" if complete else "stopped" if stopped else "failed"
    study.finished_at = _now()
    store.save(study)
    return study
