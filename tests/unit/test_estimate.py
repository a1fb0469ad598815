"""The estimate made before a run: parameter counts from a config alone, memory that grows with the work,
a run that cannot fit refused with advice (nothing recorded), and the estimate kept beside the measurement."""

import pytest
from transformers import AutoConfig, AutoModelForCausalLM

from comparisons import estimate_run
from comparisons.api import make_config, run_method
from comparisons.data import load_data, subset
from comparisons.errors import UserError
from comparisons.estimate import Shape, finetune_estimate
from comparisons.runs import RunStore


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
    monkeypatch.setattr(estimate_run, "_device", lambda assume_gpu=None: (None, 10 * 2**20, 0.0))  # 10 MB free
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
    from comparisons.report import result_markdown, row

    assert row(record)["estimate_mb"] == est["memory_mb"]
    assert "estimated before the run" in result_markdown(record, None)
