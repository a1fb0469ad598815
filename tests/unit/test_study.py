"""Studies (comparisons.running.study) on tiny models and the bundled sample, and the statistics they rest on
(comparisons.ground.stats) against reference computations."""
import json
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

from comparisons.analysis import study_report
from comparisons.cli import main
from comparisons.ground.errors import UserError
from comparisons.ground.runs import RunStore
from comparisons.ground.stats import mcnemar_exact, mean_ci, paired_bootstrap, paired_test, wilson
from comparisons.running.study import Study, StudySpec, StudyStore, run_study
from rag.embed import register_embedder
from tests.conftest import ROOT
from tests.stand_in import HashEmbedder

register_embedder("test-hash", HashEmbedder)


def spec_for(tiny, methods=("lora", "fewshot:balanced", "rag:knn", "baseline"), sizes="12,48", seeds=2, **kw):
    settings = {"model": tiny, "embedder": "test-hash", "forgetting_tokens": 0, "n_evals": 1, "curve_size": 8,
                "shots": 2, "label_words": "bad,ok,good", "batch_size": 8}
    return StudySpec(methods=list(methods), axis=f"train_size={sizes}", seeds=seeds, eval_size=30, data="sample",
                     settings=settings, **kw)


def test_two_sizes_two_seeds_make_four_records_per_method_on_one_eval_split(tmp_path, tiny_gpt2):
    runs = RunStore(tmp_path)
    study = run_study(spec_for(tiny_gpt2), runs=runs)
    assert study.status == "completed" and len(study.cells) == study.n_cells == 16
    records = StudyStore(runs).records(study)
    by_method = pd.Series([r.method for r in records.values()]).value_counts().to_dict()
    assert by_method == {"finetune": 4, "fewshot": 4, "rag": 4, "baseline": 4}
    assert {r.data["fingerprint"] for r in records.values()} == {study.eval_fingerprint}
    assert all(r.study == {"study_id": study.study_id, "cell": key} for key, r in records.items())
    # the seed redraws train; one seed's smaller subset lies inside its larger one
    trains = {(r.data["n_train"], r.config["seed"]): r.data["train_fingerprint"] for r in records.values()}
    assert trains[(12, 42)] != trains[(12, 43)]
    assert not any(r.artifacts.get("model_dir") for r in records.values())  # studies save no model files
    table = study_report.summary_table(study, records)
    assert len(table) == 8 and (table["n"] == 2).all()
    assert ((table["ci_low"] <= table["mean"]) & (table["mean"] <= table["ci_high"])).all()
    # every cell is an ordinary run: Compare lists them on the study's eval split
    from comparisons.analysis.report import comparison_rows

    rows, fp, _ = comparison_rows(runs.list(), study.eval_fingerprint)
    assert len(rows) == 16


def test_nested_train_subsets_within_a_seed():
    from comparisons.ground.data import load_data, subset

    full = load_data("sample", seed=0)
    small, large = subset(full, 20, 30, seed=5, eval_seed=1), subset(full, 80, 30, seed=5, eval_seed=1)
    assert set(small.train.texts) <= set(large.train.texts)
    assert small.fingerprint == large.fingerprint  # the eval split does not move with the train size


def test_ci_contains_the_mean_and_narrows_with_more_seeds():
    from statsmodels.stats.weightstats import DescrStatsW

    two, five = [0.60, 0.64], [0.60, 0.64, 0.62, 0.61, 0.63]
    a, b = mean_ci(two), mean_ci(five)
    assert a.low <= a.mean <= a.high and b.low <= b.mean <= b.high
    assert b.half_width < a.half_width
    assert (b.low, b.high) == pytest.approx(DescrStatsW(np.array(five)).tconfint_mean(0.05))
    single = mean_ci([0.6], single_run_n=300)  # one seed: the run's own Wilson interval
    assert single.kind == "wilson" and (single.low, single.high) == pytest.approx(wilson(180, 300))
    assert mean_ci([0.99, 0.5]).high == 1.0  # clipped to the metric's range


def test_mcnemar_and_bootstrap_on_planted_predictions():
    y = np.zeros(300, dtype=int)
    a, b = y.copy(), y.copy()
    a[:2] = 1  # A wrong on 2 tweets that B gets right
    b[2:12] = 1  # B wrong on 10 tweets that A gets right
    a_only, b_only, p = mcnemar_exact(a == y, b == y)
    assert (a_only, b_only) == (10, 2)
    assert p == pytest.approx(158 / 4096)  # exact: 2 * P(X <= 2), X ~ Binomial(12, 1/2)
    diff, lo, hi = paired_bootstrap(a == y, b == y, seed=0)
    assert diff == pytest.approx(8 / 300)
    # a seeded bootstrap by hand, resampling tweets jointly: the same interval within resampling noise
    rng = np.random.default_rng(1)
    ca, cb = (a == y).astype(float), (b == y).astype(float)
    idx = rng.integers(0, 300, size=(20_000, 300))
    ref = np.percentile(ca[idx].mean(1) - cb[idx].mean(1), [2.5, 97.5])
    assert (lo, hi) == pytest.approx(tuple(ref), abs=0.004)
    test = paired_test(y, a, b, "LoRA", "RAG")
    assert test.significant and test.verdict().startswith("LoRA − RAG = +2.7 points (95 % CI +")
    assert "McNemar p = 0.039: a real difference" in test.verdict()
    same = paired_test(y, a, a, "x", "y")
    assert same.p_value == 1.0 and "agree on every tweet" in same.verdict()
    noisy = paired_test(y[:40], np.r_[np.ones(3, int), np.zeros(37, int)], np.r_[np.zeros(38, int), np.ones(2, int)])
    assert not noisy.significant and "within noise on 40 tweets" in noisy.verdict()


def test_a_verdict_never_contradicts_its_interval():
    """+7.3 points with an interval excluding 0 and McNemar p = 0.053 read "within noise"; now "borderline", with the
    rule said."""
    from comparisons.ground.stats import PairedTest

    interval_only = PairedTest("LoRA", "RAG", 300, 0.70, 0.627, 0.073, 0.003, 0.143, 30, 15, 0.053)
    assert not interval_only.significant and interval_only.borderline
    assert "borderline — the bootstrap interval excludes 0 but McNemar's test does not reject" in \
        interval_only.verdict() and "within noise" not in interval_only.verdict()
    test_only = PairedTest("a", "b", 300, 0.6, 0.57, 0.03, -0.001, 0.06, 20, 8, 0.036)
    assert test_only.borderline and "McNemar's test rejects at 5 % but the bootstrap interval includes 0" in \
        test_only.verdict()
    both = PairedTest("a", "b", 300, 0.7, 0.6, 0.1, 0.05, 0.15, 40, 10, 0.0001)
    neither = PairedTest("a", "b", 300, 0.6, 0.59, 0.01, -0.03, 0.05, 12, 9, 0.66)
    assert both.significant and not both.borderline and "a real difference" in both.verdict()
    assert not neither.significant and not neither.borderline and "within noise" in neither.verdict()


def _planted(curves: dict, sizes=("32", "128", "512")):
    spec = StudySpec(methods=list(curves), axis=f"train_size={','.join(sizes)}", seeds=1)
    rows = [{"method": study_report.display(m), "x": x, "x2": None, "n": 3, "mean": v, "ci_low": v - 0.02,
             "ci_high": v + 0.02, "std": 0.01, "interval": "t over seeds", "seconds": 1.0, "trainable_params": 1}
            for m, values in curves.items() for x, v in zip(sizes, values)]
    return spec, pd.DataFrame(rows)


def test_crossover_points_are_found_on_planted_curves():
    spec, table = _planted({"lora": [0.40, 0.52, 0.70], "rag:linear": [0.50, 0.55, 0.60],
                            "baseline": [0.30, 0.45, 0.58]})
    found = study_report.crossovers(table, spec)
    assert [(c["overtaking"], c["overtaken"], c["from"], c["to"]) for c in found] == [
        ("LoRA", "RAG linear", "128", "512")]
    assert found[0]["text"].startswith("LoRA overtakes RAG linear between 128 and 512 labelled tweets")
    wins = study_report.winners(table, spec)
    assert wins[0].startswith("at 32 labelled tweets: **RAG linear**") and "**LoRA**" in wins[2]
    assert "clearly behind" in wins[2] and "not a clear win" in wins[1]  # 0.55 vs 0.52: the bands (±0.02) overlap
    spec, table = _planted({"lora": [0.4, 0.6, 0.5], "full": [0.5, 0.5, 0.6]})  # they cross twice
    assert [(c["overtaking"], c["from"]) for c in study_report.crossovers(table, spec)] == [("LoRA", "32"),
                                                                                          ("full fine-tuning", "128")]


def _count(runs: RunStore) -> int:
    return len(list(runs.root.glob("*/record.json")))


KILL_SCRIPT = """
import os, sys
sys.path.insert(0, {root!r})
from rag.embed import register_embedder
from tests.stand_in import HashEmbedder
register_embedder("test-hash", HashEmbedder)
from comparisons.ground.runs import RunStore
from comparisons.running.study import StudySpec, run_study
spec = StudySpec.from_dict({spec!r})
def on_event(e):
    if e.get("event") == "start" and e.get("index") == 5:
        os._exit(9)  # killed in the middle of the sixth cell: no clean-up runs
run_study(spec, runs=RunStore({runs!r}), on_event=on_event)
"""


def test_resume_after_a_kill_reruns_only_the_unfinished_cells(tmp_path, tiny_gpt2):
    spec = spec_for(tiny_gpt2, methods=("rag:knn", "lora"), sizes="12,24,48", seeds=1)
    script = KILL_SCRIPT.format(root=str(ROOT), spec=spec.to_dict(), runs=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 9, proc.stderr[-2000:]
    runs, store = RunStore(tmp_path), StudyStore(RunStore(tmp_path))
    (killed,) = store.list()
    assert killed.status == "interrupted" and len(killed.cells) == 5 and killed.n_cells == 6
    assert _count(runs) == 6  # five finished cells and the one in flight
    before = {key: runs.load(rid).finished_at for key, rid in killed.cells.items()}
    seen = []
    study = run_study(runs=runs, resume=killed.study_id, on_event=seen.append)
    ran = [e["cell"] for e in seen if e.get("event") == "cell" and not e["skipped"]]
    assert ran == ["lora|train_size=48|seed=42"]
    assert study.status == "completed" and len(study.cells) == 6 and _count(runs) == 7
    assert {k: runs.load(study.cells[k]).finished_at for k in before} == before  # finished cells untouched


def test_stop_mid_study_keeps_finished_cells_and_resume_finishes(tmp_path, tiny_gpt2):
    runs, stop = RunStore(tmp_path), threading.Event()
    spec = spec_for(tiny_gpt2, methods=("baseline", "lora"), sizes="12,48", seeds=1,
                    )
    spec.settings.update(epochs=50)  # long enough to be stopped while training

    def on_event(e):
        if e.get("index") == 1 and e.get("max_steps") and e.get("step", 0) >= 1:
            stop.set()  # Stop pressed while the second cell (LoRA) trains

    study = run_study(spec, runs=runs, on_event=on_event, stop=stop)
    assert study.status == "stopped" and list(study.cells) == ["baseline|train_size=12|seed=42"]
    stopped = [r for r in runs.list() if r.status == "stopped"]
    assert len(stopped) == 1 and stopped[0].study["cell"] == "lora|train_size=12|seed=42"
    kept = runs.load(study.cells["baseline|train_size=12|seed=42"])
    assert kept.status == "completed" and kept.metrics["accuracy"] > 0
    spec.settings.update(epochs=1)  # (resume reruns the same spec: the stored one)
    study = run_study(runs=runs, resume=study.study_id)
    assert study.status == "completed" and len(study.cells) == 4
    assert study.cells["baseline|train_size=12|seed=42"] == kept.run_id


@pytest.mark.parametrize("args, message", [
    (["--axis", "nonsense=1,2"], "unknown field 'nonsense'"),
    (["--axis", "train_size="], "no values given"),
    (["--axis", "train_size=32,100000"], "train size 100000 is larger than the train split"),
    (["--methods", "lora,telepathy"], "unknown method 'telepathy'"),
    (["--methods", "rag:deep"], "unknown choice 'deep' for method rag"),
    (["--axis", "lora_r=4,8", "--methods", "lora,rag:knn"], "rag:knn has no setting 'lora_r'"),
    (["--axis", "lr=abc", "--methods", "lora"], "setting 'learning_rate' must be a float"),
    (["--seeds", "0"], "seeds must be a whole number from 1"),
    (["--set", "nonsense=3"], "setting 'nonsense' is not a field of any method"),
    (["--eval-size", "99999"], "eval size 99999 is larger than the eval split"),
])
def test_bad_study_specs_exit_2_and_run_nothing(tmp_path, capsys, args, message):
    base = {"--data": "sample", "--methods": "lora,rag:knn", "--axis": "train_size=12,48", "--seeds": "1",
            "--eval-size": "30", "--runs-dir": str(tmp_path)}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = ["study", *[x for kv in base.items() for x in kv]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    assert not list(tmp_path.glob("*/record.json")) and not list(tmp_path.glob("studies/*"))


def test_study_file_and_cli_json(tmp_path, capsys, tiny_gpt2):
    spec = spec_for(tiny_gpt2, methods=("baseline", "rag:linear"), sizes="12,48", seeds=2).to_dict()
    (tmp_path / "study.yaml").write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in spec.items()))
    assert main(["study", "--spec", str(tmp_path / "study.yaml"), "--runs-dir", str(tmp_path / "runs"), "--json",
                 "--png", str(tmp_path / "chart.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed" and out["done"] == 8 and len(out["summary"]) == 4
    cell = out["summary"][0]
    assert {"mean", "ci_low", "ci_high", "n", "seconds"} <= set(cell) and cell["n"] == 2
    assert isinstance(out["crossovers"], list) and out["widest_ci"]["half_width"] >= 0
    assert (tmp_path / "chart.png").stat().st_size > 10_000
    # resuming a finished study runs nothing; --list shows it
    assert main(["study", "--resume", out["study_id"], "--runs-dir", str(tmp_path / "runs"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["done"] == 8
    assert len(list((tmp_path / "runs").glob("*/record.json"))) == 8
    assert main(["study", "--list", "--runs-dir", str(tmp_path / "runs"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["studies"][0]["study_id"] == out["study_id"]


def test_a_sweep_over_two_axes_draws_a_heatmap(tmp_path, tiny_gpt2):
    spec = spec_for(tiny_gpt2, methods=("baseline",), seeds=1)
    spec.axis, spec.axis2 = "C=0.5,4", "word_ngrams=1-1,1-2"
    runs = RunStore(tmp_path)
    study = run_study(spec, runs=runs)
    v = study_report.view(StudyStore(runs), study)
    assert len(v["table"]) == 4 and any(line.startswith("Best cell: TF-IDF at C = ") for line in v["findings"])
    assert len(v["figure"].axes) == 1  # one heatmap: one method


def test_paired_test_of_two_records_and_compare_verdict(tmp_path, tiny_gpt2):
    from comparisons.analysis.report import comparison_verdict, handicaps
    from comparisons.ground.stats import paired_records

    runs = RunStore(tmp_path)
    study = run_study(spec_for(tiny_gpt2, methods=("baseline", "lora"), sizes="24", seeds=1), runs=runs)
    a, b = (runs.load(study.cells[k]) for k in sorted(study.cells))
    test = paired_records(a, b)
    assert test.n == 30 and -1 <= test.low <= test.difference <= test.high <= 1
    lines = comparison_verdict([a, b])
    assert lines[0].startswith("Winner: **") and "McNemar p =" in lines[1]
    assert any("Only 30 eval tweets" in x for x in lines) and any("bundled sample" in x for x in lines)
    assert handicaps(b) == [] or all("epoch" in h or "underfit" in h for h in handicaps(b))
    other = Study(spec={}, eval_fingerprint="x")
    assert other.study_id.endswith(other.study_id[-6:])
    b.data["fingerprint"] = "another"
    with pytest.raises(UserError, match="different eval splits"):
        paired_records(a, b)


def test_run_all_names_a_run_handicapped_by_its_cpu_plan(tmp_path, tiny_gpt2):
    """Run all's CPU plan trains an eighth of an epoch: its summary says the fine-tuning was handicapped, and
    that the eval split is too small and the bundled sample too easy for the ranking to mean much."""
    from comparisons.ground.data import load_data, subset
    from comparisons.running.api import make_config, run_method
    from comparisons.serving import service as svc
    from finetune.config import PRESETS

    data = subset(load_data("sample", seed=0), 120, 30, seed=0)
    runs = RunStore(tmp_path)
    values = PRESETS["run_all_cpu"].apply({"mode": "lora", "model": tiny_gpt2, "batch_size": 4})
    lora = run_method("finetune", make_config("finetune", values), data, store=runs)
    peer = run_method("baseline", make_config("baseline", {}), data, store=runs)
    summary = svc.run_all_summary([lora, peer], 3.0)
    assert "**What it found**" in summary and "Winner: **" in summary and "McNemar p =" in summary
    name = f"{lora.label} [{lora.run_id[-6:]}]"
    assert f"Handicapped by its plan: {name} trained on 0.13 of an epoch (4 steps)" in summary
    assert "Only 30 eval tweets" in summary and "bundled sample" in summary
    # The app says the verdict once, under Compare's table: Run all's own summary lists its steps and points there.
    steps_only = svc.run_all_summary([lora, peer], 3.0, verdict=False)
    assert "Winner" not in steps_only and "is under the table" in steps_only and f"- {lora.label}: " in steps_only
