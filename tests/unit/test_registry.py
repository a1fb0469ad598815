"""A method is one folder: the spine and the face know methods only through comparisons.ground.registry. A toy method (a
keyword-rules classifier) declared in a temporary package, and named in TPR_METHODS, appears in the CLI, the API,
the app's Peers tab, Compare, Try it, the disagreement browser, workshop boards and studies, with no file of the
project touched; and no module outside a method's folder tests a method's name."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from comparisons.ground import registry
from tests.conftest import ROOT

METHOD_FOLDERS = ("finetune", "fewshot", "rag", "peers")  # where the built-in methods live
TOY = "keywords"

TOY_PACKAGE = '''
"""A keyword-rules classifier: a label's score is how many of its words the text has. A method in one folder."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from comparisons.ground.config import SEED_MAX, ConfigBase, setting
from comparisons.ground.registry import Method
from comparisons.ground.runs import finish_predictions, new_record, tracked


@dataclass
class KeywordsConfig(ConfigBase):
    negative: str = setting("bad,awful,hate,sad,worst", "words of the first label", label="Negative words",
                            place="main")
    positive: str = setting("good,great,love,happy,best", "words of the last label", label="Positive words",
                            place="main")
    seed: int = setting(42, "seed of the data subsets", low=0, high=SEED_MAX, place="data")


def scores(config, texts, n_labels):
    words = [set(w.strip() for w in config.negative.split(",")), set(w.strip() for w in config.positive.split(","))]
    out = np.full((len(texts), n_labels), 1.0)
    for i, text in enumerate(texts):
        tokens = set(text.lower().split())
        out[i, 0] += 2 * len(tokens & words[0])
        out[i, -1] += 2 * len(tokens & words[1])
    return out / out.sum(axis=1, keepdims=True)


def run(config, data, *, on_event=None, stop=None, store=None):
    import time

    record = new_record("keywords", config, data, precision="fp32")
    with tracked(record, store, on_event=on_event):
        t0 = time.perf_counter()
        probs = scores(config, list(data.test.texts), data.n_labels)
        finish_predictions(record, data.test.labels, probs, data.label_names, time.perf_counter() - t0)
        record.trainable_params = record.total_params = 0
    return record


def try_it(ctx):
    record = ctx.newest("keywords")
    if record is not None:
        ctx.add(record.label, scores(KeywordsConfig.from_dict(record.config), [ctx.text], ctx.data.n_labels)[0])


METHOD = Method(name="keywords", family="peer", title="Keyword rules", config="tpr_keywords:KeywordsConfig",
                entry="tpr_keywords", blurb="Counts each label's words: the floor any learned method must clear.",
                board_fields=("negative", "positive"), label=lambda c, r: "keyword rules", try_it=try_it)
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy method's package in a temporary folder, named in TPR_METHODS (as a user would add theirs)."""
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "tpr_keywords.py").write_text(textwrap.dedent(TOY_PACKAGE))
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("TPR_METHODS", "tpr_keywords")
    yield folder
    registry.unregister(TOY)
    registry._loaded.discard("tpr_keywords")
    sys.modules.pop("tpr_keywords", None)


def _branches() -> list[str]:
    """Lines outside the methods' folders that test a method's name (==, !=, in, a dict keyed by it, .get)."""
    names = "|".join(re.escape(n) for n in registry.names())
    q = r"""["']"""
    pattern = re.compile(rf"(==|!=)\s*{q}({names}){q}|{q}({names}){q}\s*(==|!=|in\b)|\bin\s*[\(\[{{][^)\]}}]*"
                         rf"{q}({names}){q}|{q}({names}){q}\s*:\s|\.get\(\s*{q}({names}){q}|startswith\({q}({names})")
    found = []
    files = [*(ROOT / "comparisons").rglob("*.py"), *(ROOT / "ui").glob("*.py"), ROOT / "app.py"]
    for path in files:
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line.split("#")[0]):
                found.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    return found


def test_no_module_outside_a_methods_folder_tests_a_methods_name():
    assert _branches() == []


def test_the_scan_sees_a_branch_when_there_is_one(tmp_path, monkeypatch):
    """The grep above is not vacuous: a planted branch in the spine is found."""
    planted = ROOT / "comparisons" / "_planted_branch.py"
    planted.write_text('def f(record):\n    return record.method == "setfit"\n')
    try:
        assert any("_planted_branch.py:2" in line for line in _branches())
    finally:
        planted.unlink()


def test_every_builtin_method_declares_one_object_in_its_own_folder():
    for m in registry.all_methods():
        assert m.family in registry.FAMILIES
        assert m.config.split(".")[0] in METHOD_FOLDERS and m.entry.split(".")[0] in METHOD_FOLDERS, m.name
        assert m.config_class().__dataclass_fields__  # importable, torch-free config
    assert {m.family for m in registry.all_methods()} == set(registry.FAMILIES)


def test_a_toy_method_reaches_compare_try_it_disagreements_boards_and_studies(toy, tmp_path):
    from comparisons.analysis import report
    from comparisons.analysis.study_report import summary_table
    from comparisons.ground.data import load_data, subset
    from comparisons.ground.runs import RunStore
    from comparisons.running.api import make_config, run_method
    from comparisons.running.study import StudySpec, StudyStore, method_choices, run_study
    from comparisons.serving import service as svc
    from comparisons.serving.board import BoardStore

    assert TOY in registry.names() and TOY in method_choices()
    store = RunStore(tmp_path / "runs")
    data = subset(load_data("sample"), 60, 40, seed=0)
    board_store = BoardStore(store)
    board = board_store.create("host", "host", fingerprint=data.fingerprint)
    record = run_method(TOY, make_config(TOY, {}), data, store=store)
    record.owner = "host"
    store.save(record)
    baseline = run_method("baseline", make_config("baseline", {}), data, store=store)
    assert record.status == "completed" and 0 < record.metrics["accuracy"] <= 1 and record.label == "keyword rules"

    rows, _, _ = report.comparison_rows(store.list(), data.fingerprint)  # Compare
    assert "keyword rules" in {r["label"] for r in rows}
    assert report.result_markdown(record, None).startswith("**keyword rules**")
    tried = svc.try_it("what a great happy day", data, store)  # Try it
    mine = tried["table"][tried["table"]["method"] == "keyword rules"]
    assert list(mine["label"]) == [data.label_names[-1]]
    shown = svc.disagreements(data, store, "all", record.run_id, baseline.run_id)  # the disagreement browser
    assert any("keyword" in str(c) for c in shown["table"].columns) and len(shown["table"]) == len(data.test)
    assert [r for r in board_store.rows(board_store.load(board.code)) if r["method"] == "keyword rules"]  # boards
    assert "negative" in [r for r in board_store.rows(board_store.load(board.code))][0]["settings"]

    spec = StudySpec(methods=[TOY, "baseline"], axis="train_size=20,40", seeds=1, eval_size=30, data="sample")
    study = run_study(spec, runs=store)  # studies
    table = summary_table(study, StudyStore(store).records(study))
    assert study.status == "completed" and set(table["method"]) == {"Keyword rules", "TF-IDF"}


def test_a_toy_method_reaches_the_cli_and_the_apps_peers_tab_and_api(toy, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(toy), str(ROOT)]), "TPR_METHODS": "tpr_keywords",
           "HF_HUB_OFFLINE": "1"}
    runs = tmp_path / "runs"
    cli = subprocess.run([sys.executable, "-m", "comparisons", "run", "--method", TOY, "--data", "sample",
                          "--runs-dir", str(runs), "--negative", "sad,bad", "--json"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert cli.returncode == 0, cli.stderr
    out = json.loads(cli.stdout)
    assert out["method"] == TOY and out["accuracy"] is not None
    saved = [json.loads(p.read_text()) for p in Path(runs).rglob("*.json")]
    assert [r["config"]["negative"] for r in saved if r.get("method") == TOY] == ["sad,bad"]

    from ui import build_demo

    demo = build_demo()  # the app, with the toy method registered
    assert set(demo.tpr_widgets[TOY]) == {"negative", "positive"}  # a section of the Peers tab, from its config
    apis = {d.get("api_name") for d in demo.config["dependencies"]}
    assert f"run_{TOY}" in apis and "run_baseline" in apis


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """module -> the project's modules it imports (at the top or inside a function), from the source."""
    import ast

    packages = ("comparisons", "finetune", "fewshot", "rag", "peers", "ui")
    modules = {_module_name(path): path for package in packages for path in (ROOT / package).rglob("*.py")}
    graph = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.stem == "__init__" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
                target = ".".join(x for x in (base, node.module or "") if x)
                found = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules]
                graph[name].update(found or ([target] if target in modules else []))
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in modules)
            graph[name].discard(name)
    return graph


# The spine's layers, lowest first; the methods' folders stand on the ground and below running. The faces (the CLI,
# the app's tabs) stand above all and may import anything.
LAYERS = (("comparisons.ground",), ("finetune", "fewshot", "rag", "peers"), ("comparisons.running",),
          ("comparisons.analysis",), ("comparisons.serving",))


def _rank(module: str) -> int | None:
    for i, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return None


def _upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in graph.items() for b in targets
                  if _rank(a) is not None and _rank(b) is not None and _rank(b) > _rank(a))


def test_the_spine_imports_only_downward():
    """ground < the methods < running < analysis < serving: no module imports from a layer above its own (at the top
    or inside a function), each subpackage opens with a line that says what it holds, and the check is not vacuous
    (an upward import planted in a copy of the graph is found)."""
    graph = _import_graph()
    assert _upward(graph) == []
    for layer in ("ground", "running", "analysis", "serving"):
        assert (ROOT / "comparisons" / layer / "__init__.py").read_text().startswith('"""'), layer
    assert sum(1 for m in graph if _rank(m) == 0) >= 15  # the ground's modules are all seen
    planted = {**graph, "comparisons.ground.data": graph["comparisons.ground.data"] | {"comparisons.serving.service"},
               "rag.method": graph["rag.method"] | {"comparisons.analysis.report"}}
    assert _upward(planted) == [("comparisons.ground.data", "comparisons.serving.service"),
                                ("rag.method", "comparisons.analysis.report")]


def test_no_import_circles():
    """No two modules import each other, however indirectly (disk <-> modelcard and train <-> saved did): every
    strongly connected part of the import graph is one module."""
    graph = _import_graph()
    order, low, stack, on_stack, circles = {}, {}, [], set(), []

    def connect(v):
        order[v] = low[v] = len(order)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in order:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            part = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                circles.append(sorted(part))

    for v in graph:
        if v not in order:
            connect(v)
    assert circles == []
