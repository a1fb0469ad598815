"""The architecture's promises: a setting is declared once (config field -> CLI flag, app widget, API
parameter), configs and the face import no model library, outputs are kept apart from config, caches
are bounded, and every environment setting is read in one place and honoured by the CLI and the app."""

import dataclasses
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from comparisons.cli import build_parser, method_fields
from comparisons.ground.config import PLACES
from comparisons.ground.data import load_data, subset
from comparisons.ground.lru import LRU
from comparisons.ground.registry import names as _names
from comparisons.ground.runs import RunRecord, RunStore
from comparisons.ground.settings import VARIABLES, settings
from comparisons.running.api import config_class
from comparisons.serving import service as svc
from rag.embed import register_embedder
from tests.conftest import ROOT
from tests.stand_in import HashEmbedder

METHODS = _names()
register_embedder("test-hash", HashEmbedder)
HEAVY = ("torch", "transformers", "faiss", "peft", "sentence_transformers")


def _fresh(code: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_configs_cli_and_face_import_no_model_library():
    code = ("import sys, finetune, fewshot, rag, finetune.config, fewshot.config, rag.config, comparisons.cli, "
            "comparisons.serving.service, ui, app; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    assert _fresh(code) == "[]"


@pytest.fixture(scope="module")
def demo():
    from ui import build_demo

    return build_demo()


def _choices(component) -> list:
    return [c[1] if isinstance(c, (tuple, list)) else c for c in component.choices]


@pytest.mark.parametrize("method", METHODS)
def test_every_config_field_is_in_the_cli_the_ui_and_the_api_with_its_default_and_choices(method, demo):
    from ui.common import app_defaults

    cls = config_class(method)
    defaults = app_defaults(cls)
    parser = build_parser()
    run_flags = {a.dest: a for g in parser._subparsers._group_actions[0].choices["run"]._action_groups
                 for a in g._group_actions}
    widgets = demo.tpr_widgets[method]
    api = demo.get_api_info()["named_endpoints"][f"/run_{method}"]["parameters"]
    api_params = {p["parameter_name"]: p for p in api}
    for f in dataclasses.fields(cls):
        meta = f.metadata
        assert meta.get("help") and meta.get("place") in PLACES, f"{cls.__name__}.{f.name} has no setting() metadata"
        if meta["place"] == "data":  # the Data tab's seed, and the CLI's --seed
            assert "seed" in demo.tpr_widgets["data"] and "seed" in run_flags
            continue
        flag = run_flags.get(f.name)
        assert flag is not None, f"--{f.name} missing from the CLI"
        assert flag.default is None and repr(f.default) in flag.help  # the config decides the default
        for choice in meta["choices"]:
            assert str(choice) in flag.help
        if meta["place"] == "cli":  # a server path: never a field of the app
            assert f.name not in widgets and f.name not in api_params
            continue
        widget = widgets.get(f.name)
        assert widget is not None, f"{method} tab lacks a widget for {f.name}"
        shown = None if widget.value == "" and defaults[f.name] is None else widget.value  # empty = the default
        assert shown == defaults[f.name], (f.name, widget.value, defaults[f.name])
        if meta["choices"]:
            assert _choices(widget) == list(meta["choices"])
        if meta["suggestions"]:
            assert _choices(widget) == list(meta["suggestions"]) and widget.allow_custom_value
        assert f.name in api_params and api_params[f.name]["parameter_default"] == defaults[f.name]
    assert set(widgets) == {f.name for f in dataclasses.fields(cls) if f.metadata["place"] in ("main", "more")}


def test_app_deviations_from_the_defaults_are_named_presets_with_reasons():
    from finetune.config import PRESETS, FinetuneConfig

    assert PRESETS["app"].values == {"forgetting_tokens": 4096} and "16,384" in PRESETS["app"].why
    for method in METHODS:
        module = sys.modules[config_class(method).__module__]
        for preset in getattr(module, "PRESETS", {}).values():
            assert preset.why
            config_class(method).from_dict(preset.values)  # every preset is a valid setting
    assert FinetuneConfig().forgetting_tokens == 16384


def test_public_api_is_named_and_the_ui_events_are_private(demo):
    info = demo.get_api_info()
    from tests.e2e.test_api import ENDPOINTS  # the public API, written once

    assert set(info["named_endpoints"]) == ENDPOINTS
    assert not info["unnamed_endpoints"]
    classify = info["named_endpoints"]["/classify"]["parameters"]
    assert [p["parameter_name"] for p in classify] == ["text"]


def test_cli_flags_keep_their_old_spellings_and_reject_another_methods_option():
    from comparisons.cli import main

    args = build_parser().parse_args(["run", "--method", "finetune", "--lr", "1e-4", "--no-calibrate"])
    assert args.learning_rate == "1e-4" and args.calibrate is False
    every = {f.name for m in METHODS for f in dataclasses.fields(config_class(m)) if f.metadata["place"] != "data"}
    assert set(method_fields()) == every
    assert main(["run", "--method", "rag", "--shots", "3", "--data", "sample"]) == 2


def test_config_round_trips_and_outputs_live_in_resolved(tmp_path):
    from rag.config import RagConfig
    from rag.run import run

    config = RagConfig(embedder="test-hash", k=0)
    data = subset(load_data("sample"), 60, 20, seed=0)
    record = run(config, data, store=RunStore(tmp_path))
    assert RagConfig.from_dict(record.config) == config
    assert set(record.config) == {f.name for f in dataclasses.fields(RagConfig)}
    assert record.resolved["k_used"] >= 1 and record.resolved["resolved_embedder"] == "test-hash"
    assert f"k={record.resolved['k_used']}" in record.label
    stored = RunStore(tmp_path).load(record.run_id)
    assert stored.resolved == record.resolved and stored.config == record.config


def test_records_written_before_resolved_existed_are_read_with_outputs_moved():
    old = {"method": "rag", "config": {"mode": "knn", "k": 0, "k_used": 7, "resolved_embedder": "x"},
           "data": {}, "status": "completed"}
    record = RunRecord.from_dict(old)
    assert record.config == {"mode": "knn", "k": 0}
    assert record.resolved == {"k_used": 7, "resolved_embedder": "x"} and record.label == "rag knn k=7"


def test_lru_holds_at_most_its_bound_and_expires_idle_entries():
    now = [0.0]
    cache = LRU(3, ttl=10, clock=lambda: now[0])
    for i in range(5):
        cache.put(i, str(i))
    assert len(cache) == 3 and 0 not in cache and 1 not in cache
    cache.get(2)  # 2 is now the most recent: 3 goes first
    cache.put(5, "5")
    assert 3 not in cache and 2 in cache
    now[0] = 11
    assert len(cache) == 0
    built = []
    assert cache.get_or_create("k", lambda: built.append(1) or "v") == "v"
    assert cache.get_or_create("k", lambda: built.append(1) or "w") == "v" and built == [1]


def test_process_caches_are_bounded_and_sessions_expire(monkeypatch):
    from comparisons.ground import models

    assert svc._SESSIONS.maxsize and svc._SESSIONS.ttl and svc._DATA_CACHE.maxsize and svc._CLASSIFIERS.maxsize
    assert models._LM_CACHE.maxsize
    for i in range(svc.MAX_SESSIONS + 50):
        svc.session(f"visitor-{i}")
    assert len(svc._SESSIONS) == svc.MAX_SESSIONS
    stop_before = svc.session("visitor-kept").stop
    assert svc.session("visitor-kept").stop is stop_before  # the same visitor keeps their session


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_every_environment_setting_is_read_in_one_place_and_listed_in_the_readme(name, monkeypatch, tmp_path):
    from comparisons.ground.settings import ATTRIBUTES

    readme = (ROOT / "README.md").read_text()
    assert f"`{name}`" in readme
    kind = type(getattr(settings(), ATTRIBUTES[name]))
    if name == "TPR_MAX_JOB_MINUTES" or kind in (int, float):
        raw, expected = "7", 7.0
    elif kind is bool:
        raw, expected = "yes", True
    elif kind is str:
        raw = expected = "a-secret"
    else:
        raw, expected = str(tmp_path / name.lower()), tmp_path / name.lower()
    monkeypatch.setenv(name, raw)
    assert getattr(settings(), ATTRIBUTES[name]) == expected


def test_environment_settings_reach_the_service_and_the_methods(monkeypatch, tmp_path):
    from comparisons.ground.models import cache_root
    from finetune.diagnostics import general_text
    from rag.embed import Embedder

    monkeypatch.setenv("TPR_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("TPR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TPR_EMBED_CACHE", str(tmp_path / "emb"))
    monkeypatch.setenv("TPR_MAX_UPLOAD_MB", "3")
    wiki = tmp_path / "wiki.txt"
    wiki.write_text("General English text for the probe. " * 50)
    monkeypatch.setenv("TPR_WIKITEXT", str(wiki))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert svc.runs_store().root == tmp_path / "runs"
    assert cache_root() == tmp_path / "cache"
    assert Embedder("test-hash").cache_dir == tmp_path / "emb"
    assert svc.max_upload_mb() == 3.0
    text, origin = general_text()
    assert text.startswith("General English") and wiki.name in origin and str(tmp_path) not in origin  # no path


def test_cli_reads_and_writes_runs_where_tpr_runs_dir_says(tmp_path, tiny_gpt2):
    runs = tmp_path / "elsewhere"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TPR_RUNS_DIR": str(runs)}
    cmd = [sys.executable, "-m", "comparisons", "run", "--method", "fewshot", "--model", tiny_gpt2, "--shots", "0",
           "--data", "sample", "--train-size", "30", "--eval-size", "20", "--json"]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    run_id = json.loads(out.stdout)["run_id"]
    assert (runs / run_id / "record.json").exists() and not (tmp_path / "runs").exists()
    listed = subprocess.run([sys.executable, "-m", "comparisons", "compare", "--json"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert [r["run_id"] for r in json.loads(listed.stdout)["runs"]] == [run_id]
    assert [r.run_id for r in RunStore(runs).list()] == [run_id]  # the app's store (svc.runs_store) reads it too


def test_metrics_are_the_evaluate_modules_and_match_scikit_learn():
    from sklearn.metrics import accuracy_score, f1_score

    from comparisons.ground.metrics import MODULE, classification_metrics, load_metric, trainer_metrics

    rng = np.random.RandomState(0)
    y, p = rng.randint(0, 3, 200), rng.randint(0, 3, 200)
    p[:5] = 3  # a label the names leave out still counts as wrong
    m = classification_metrics(y, p, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert m["macro_f1"] == pytest.approx(f1_score(y, p, labels=[0, 1, 2], average="macro"))
    assert sum(map(sum, m["confusion_matrix"])) == 195 and m["n"] == 200
    metric = load_metric()  # what the Trainer's compute_metrics and evaluate.load(MODULE) users get: the same dict
    assert type(metric).__name__ == "TprClassification" and MODULE.exists()
    assert metric.compute(predictions=p.tolist(), references=y.tolist(), label_names=["a", "b", "c"]) == m
    assert trainer_metrics((np.eye(4)[p], y)) == {"accuracy": m["accuracy"]}


def test_a_scikit_learn_run_imports_neither_torch_nor_evaluate(tmp_path):
    """A TF-IDF run in a fresh process (a CLI call, a Ray worker's first cell) pays for none of torch, transformers,
    `datasets` or `evaluate`: 11.3 s cold before, 2.8 s after (2026-12-03); its record still says the hardware."""
    code = ("import sys, json; from comparisons.ground.data import load_data, subset; "
            "from comparisons.running.api import make_config, run_method; "
            "data = subset(load_data('sample'), 40, 20, seed=0); "
            "r = run_method('baseline', make_config('baseline', {}), data, store=None); "
            "print(json.dumps({'heavy': sorted(m for m in ('torch', 'transformers', 'datasets', 'evaluate') "
            "if m in sys.modules), 'hardware': r.hardware, 'acc': r.metrics['accuracy']}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["heavy"] == [] and 0 <= got["acc"] <= 1
    assert got["hardware"]["device"] == "cpu" and got["hardware"]["precision"] == "fp32" and got["hardware"]["torch"]


def test_sweep_goes_through_the_service_and_reports_each_k(tmp_path, tiny_gpt2):
    data = subset(load_data("sample"), 40, 20, seed=0)
    values = {"model": tiny_gpt2, "selection": "balanced", "calibrate": False}
    updates = list(svc.stream_sweep("fewshot", values, data, threading.Event(), shots=[0, 1, 2],
                                    store=RunStore(tmp_path)))
    last = updates[-1]
    assert last.finished and [r.config["shots"] for r in last.records] == [0, 1, 2]
    from comparisons.analysis.report import sweep_points

    assert list(sweep_points(last.records)["shots"]) == [0, 1, 2]
