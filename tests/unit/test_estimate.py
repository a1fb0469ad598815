"""The estimate made before a run: parameter counts from a config alone, memory that grows with the work,
a run that cannot fit refused with advice (nothing recorded), and the estimate kept beside the measurement."""

import pytest
from transformers import AutoConfig, AutoModelForCausalLM

from comparisons.ground import estimate_run
from comparisons.ground.data import load_data, subset
from comparisons.ground.errors import UserError
from comparisons.ground.estimate import Shape, finetune_estimate
from comparisons.ground.runs import RunStore
from comparisons.running.api import make_config, run_method


@pytest.mark.parametrize("which", ["tiny_gpt2", "tiny_llama"])
def test_parameter_count_from_the_config_alone_matches_the_model(which, request):
    folder = request.getfixturevalue(which)
    shape = Shape.from_config(AutoConfig.from_pretrained(folder))
    real = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(folder).parameters())
    assert shape.params == pytest.approx(real, rel=0.05)


def _estimate(**kw):
    shape = Shape(params=135_000_000, hidden=576, layers=30, heads=9, ff=1536, vocab=49152)
    args = dict(mode="lora", batch_size=16, max_tokens=128, mean_tokens=25, n_train=1000, epochs=1, lora_r=16,
                activation_bytes=4, baseline_bytes=1e9)
    return finetune_estimate(shape, **{**args, **kw})


def test_memory_and_time_grow_with_the_work():
    lora, full = _estimate(), _estimate(mode="full")
    assert full.memory_bytes > lora.memory_bytes and full.seconds > lora.seconds
    assert _estimate(batch_size=64).memory_bytes > lora.memory_bytes
    assert _estimate(epochs=2).seconds == pytest.approx(2 * lora.seconds)
    assert _estimate(activation_bytes=2).memory_bytes < lora.memory_bytes
    assert _estimate(gpu_name="NVIDIA H200").seconds < lora.seconds / 100  # a GPU's rate, not the CPU's


def test_a_run_that_cannot_fit_is_refused_with_advice_and_nothing_is_recorded(tiny_gpt2, tmp_path, monkeypatch):
    monkeypatch.setattr(estimate_run, "device", lambda assume_gpu=None: (None, 10 * 2**20, 0.0))  # 10 MB free
    store = RunStore(tmp_path)
    data = subset(load_data("sample"), 40, 10, seed=0)
    config = make_config("finetune", {"model": tiny_gpt2, "mode": "full", "batch_size": 64, "max_length": 512})
    with pytest.raises(UserError, match="smaller batch size.*shorter max length.*LoRA"):
        run_method("finetune", config, data, store=store)
    assert store.list() == []


def test_the_record_keeps_the_estimate_beside_the_measured_peak(tiny_gpt2, tmp_path):
    data = subset(load_data("sample"), 40, 10, seed=0)
    config = make_config("finetune", {"model": tiny_gpt2, "epochs": 1, "batch_size": 8, "forgetting_tokens": 0})
    events = []
    record = run_method("finetune", config, data, store=RunStore(tmp_path), on_event=events.append)
    est = RunStore(tmp_path).load(record.run_id).diagnostics["estimate"]
    assert est["memory_mb"] > 0 and est["measured_peak_mb"] == record.peak_memory_mb and est["fits"]
    assert events[0]["event"] == "estimate"  # shown before the run starts
    from comparisons.analysis.report import result_markdown, row

    assert row(record)["estimate_mb"] == est["memory_mb"]
    assert "estimated before the run" in result_markdown(record, None)


def test_time_is_the_sum_of_a_runs_phases_at_each_devices_rates(tmp_path, monkeypatch):
    """Fixed costs (loading, the Trainer's set-up, evaluation passes, the forgetting probe) are counted, not only the
    training FLOPs: a tiny run was estimated at 0.2 s for 11-13 s measured."""
    from comparisons.ground.data import load_data, subset
    from comparisons.ground.estimate import CPU_RATES, H200_RATES, rates_for
    from comparisons.ground.estimate_run import time_for
    from comparisons.running.api import make_config

    assert rates_for(None) is CPU_RATES and rates_for("NVIDIA H200") is H200_RATES
    a100 = rates_for("NVIDIA A100-SXM4-80GB")
    assert a100.scoring == pytest.approx(H200_RATES.scoring * 312 / 790)
    assert a100.step_per_param == pytest.approx(H200_RATES.step_per_param * 4.8 / 2.0)
    assert "an estimate, not a measurement" in a100.source

    data = subset(load_data("sample", seed=0), 200, 60, seed=0)
    tune = time_for("finetune", make_config("finetune", {"model": "bundled:SmolLM2-135M-Instruct"}), data, None)
    assert {"load", "setup", "train", "evaluate", "forgetting", "save"} <= set(tune.parts)
    longer = time_for("finetune", make_config("finetune", {"model": "bundled:SmolLM2-135M-Instruct", "epochs": 3}),
                      data, None)
    assert longer.parts["train"] == pytest.approx(3 * tune.parts["train"], rel=0.1)
    assert longer.parts["evaluate"] == tune.parts["evaluate"] and longer.seconds > tune.seconds
    on_gpu = time_for("finetune", make_config("finetune", {"model": "bundled:SmolLM2-135M-Instruct"}), data, "H200")
    assert on_gpu.seconds < tune.seconds / 5

    monkeypatch.setenv("TPR_EMBED_CACHE", str(tmp_path / "embeddings"))
    rag = make_config("rag", {"mode": "knn"})
    cold = time_for("rag", rag, data, None)
    assert cold.parts.get("embed", 0) > 0
    from rag.embed import Embedder

    embedder = Embedder("auto")
    embedder.encode(list(data.train.texts))
    embedder.encode(list(data.test.texts))
    assert "embed" not in time_for("rag", rag, data, None).parts  # served by the cache: nothing to embed
