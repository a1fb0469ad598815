"""A bounded runs folder: the oldest models are evicted first (records kept, marked), a model that cannot fit is
refused before training, and a full disk while saving leaves the record whole and failed. Every saved model has a
model card that huggingface_hub reads back."""
import errno
import json
from pathlib import Path

import pytest

from comparisons.ground.disk import GB, folder_bytes
from comparisons.ground.errors import UserError
from comparisons.ground.runs import RunStore
from comparisons.running.api import make_config, run_method
from tests.unit.test_finetune import toy

FULL = dict(mode="full", epochs=1, batch_size=8, learning_rate=5e-3, curve_size=0, forgetting_tokens=0,
            warmup_ratio=0.0, input_template="{text}", head_init="random", n_evals=1)


def _run(model, store, **kw):
    return run_method("finetune", make_config("finetune", {**FULL, "model": model, **kw}), toy(), store=store)


def _model_size(tiny_gpt2, tmp_path) -> int:
    record = _run(tiny_gpt2, RunStore(tmp_path / "probe"))
    return folder_bytes(Path(record.artifacts["model_dir"]))


def test_oldest_models_are_evicted_first_and_every_record_stays(tiny_gpt2, tmp_path, monkeypatch):
    size = _model_size(tiny_gpt2, tmp_path)
    runs = tmp_path / "runs"
    cap = 5 * size  # a few models fit (each save first reserves a conservative estimate), six do not
    monkeypatch.setenv("TPR_RUNS_MAX_GB", str(cap / GB))
    store = RunStore(runs)
    records, peaks = [], []
    for i in range(6):
        records.append(_run(tiny_gpt2, store, seed=i))
        peaks.append(folder_bytes(runs))
    assert max(peaks) <= cap, (peaks, cap)
    after = {r.run_id: r for r in store.list()}
    assert set(after) == {r.run_id for r in records}  # no record is ever evicted
    kept = [r for r in records if after[r.run_id].artifacts.get("model_dir")]
    evicted = [r for r in records if after[r.run_id].artifacts.get("model_evicted")]
    assert 2 <= len(kept) <= 4 and len(kept) + len(evicted) == 6
    assert evicted == records[:len(evicted)] and kept == records[len(evicted):]  # the oldest went first
    first = after[records[0].run_id]
    assert not (runs / first.run_id / "model").exists()
    assert any("model evicted" in n for n in first.notices) and first.metrics["accuracy"] == records[0].metrics[
        "accuracy"]


def test_the_owner_cap_evicts_only_that_owners_models(tiny_gpt2, tmp_path, monkeypatch):
    import comparisons.running.gate

    # Visitors may not name a server folder as their model (test_owners checks that); the tiny model is one.
    monkeypatch.setattr(comparisons.running.gate, "check_visitor_models", lambda config, store: None)
    size = _model_size(tiny_gpt2, tmp_path)
    monkeypatch.setenv("TPR_RUNS_MAX_GB", "0")
    monkeypatch.setenv("TPR_OWNER_MAX_GB", str(3 * size / GB))
    root = RunStore(tmp_path / "runs")
    alice, bob = root.for_owner("b:alice"), root.for_owner("b:bob")
    bob_run = _run(tiny_gpt2, bob)
    alice_runs = [_run(tiny_gpt2, alice, seed=i) for i in range(3)]
    listed = {r.run_id: r for r in root.list()}
    assert listed[bob_run.run_id].artifacts.get("model_dir")  # Bob's model is not Alice's to evict
    assert listed[alice_runs[0].run_id].artifacts.get("model_evicted")
    assert listed[alice_runs[-1].run_id].artifacts.get("model_dir")
    assert sum(folder_bytes(tmp_path / "runs" / r.run_id) for r in alice_runs) <= 3 * size


def test_the_folder_cap_never_evicts_another_visitors_model(tiny_gpt2, tmp_path, monkeypatch):
    """One person with many identities cannot take everyone else's models: a full folder refuses new ones."""
    import comparisons.running.gate

    monkeypatch.setattr(comparisons.running.gate, "check_visitor_models", lambda config, store: None)
    size = _model_size(tiny_gpt2, tmp_path)
    monkeypatch.setenv("TPR_OWNER_MAX_GB", "0")
    root = RunStore(tmp_path / "runs")
    bob_runs = [_run(tiny_gpt2, root.for_owner("b:bob"), seed=i) for i in range(2)]
    monkeypatch.setenv("TPR_RUNS_MAX_GB", str(folder_bytes(tmp_path / "runs") * 1.3 / GB))  # room for no third
    for i in range(3):  # fresh identities, one after another
        with pytest.raises(UserError, match="other visitors' models are never evicted for yours"):
            _run(tiny_gpt2, root.for_owner(f"b:mallory-{i}"))
    listed = {r.run_id: r for r in root.list()}
    assert all(listed[r.run_id].artifacts.get("model_dir") and (tmp_path / "runs" / r.run_id / "model").is_dir()
               for r in bob_runs)
    assert size > 0 and len(listed) == 2  # refused before any record was written


def test_a_model_that_cannot_fit_is_refused_before_training(tiny_gpt2, tmp_path, monkeypatch):
    size = _model_size(tiny_gpt2, tmp_path)
    monkeypatch.setenv("TPR_RUNS_MAX_GB", str(size / 3 / GB))
    store = RunStore(tmp_path / "runs")
    with pytest.raises(UserError, match="needs about .* GB on disk, more than the runs folder's cap"):
        _run(tiny_gpt2, store)
    assert store.list() == []  # refused before any record or training
    record = _run(tiny_gpt2, store, save_model=False)  # a run that saves nothing still runs
    assert record.status == "completed"


def test_disk_full_while_saving_leaves_the_record_failed_and_no_partial_model(tiny_gpt2, tmp_path, monkeypatch):
    import finetune.saved

    def full_disk(model, tokenizer, folder, *a, **kw):
        Path(folder).mkdir(parents=True)
        (Path(folder) / "model.safetensors").write_bytes(b"\0" * 1000)  # half written, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(finetune.saved, "save_classifier", full_disk)
    store = RunStore(tmp_path / "runs")
    with pytest.raises(UserError, match="the disk filled up while saving the model"):
        _run(tiny_gpt2, store)
    (record,) = store.list()
    assert record.status == "failed" and "No space left" in record.error
    assert record.metrics["accuracy"] > 0 and record.predictions["y_pred"]  # the figures are kept
    run_dir = tmp_path / "runs" / record.run_id
    assert [p.name for p in run_dir.iterdir() if "model" in p.name] == []  # no partial folder left


def test_every_saved_model_has_a_card_huggingface_hub_reads_back(tiny_gpt2, tmp_path):
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    for mode, library in (("full", "transformers"), ("lora", "peft")):
        record = _run(tiny_gpt2, RunStore(tmp_path / mode), mode=mode)
        folder = Path(record.artifacts["model_dir"])
        card = ModelCard.load(folder / "README.md")
        meta = card.data.to_dict()
        assert meta["library_name"] == library and meta["pipeline_tag"] == "text-classification"
        assert "tune-prompt-retrieve" in meta["tags"] and "base_model" not in meta  # a local folder is no Hub id
        name, results = model_index_to_eval_results(meta["model-index"])
        by_metric = {r.metric_type: r.metric_value for r in results}
        assert by_metric["accuracy"] == round(record.metrics["accuracy"], 4)
        assert by_metric["f1"] == round(record.metrics["macro_f1"], 4)
        assert record.data["fingerprint"] in card.text and "How to load" in card.text
        assert "trained to the end" in card.text  # the card is written before the record says "completed"
        assert str(tmp_path) not in card.content  # no server path in what may be pushed
        if mode == "lora":
            assert "AutoPeftModelForSequenceClassification" in card.text


def test_card_names_the_hub_id_of_a_bundled_model():
    from comparisons.ground.modelcard import card_for
    from comparisons.ground.runs import RunRecord

    record = RunRecord(method="finetune", config={"mode": "lora", "lr": 1e-4}, data={
        "source": "mteb/tweet_sentiment_extraction", "fingerprint": "abc", "n_train": 10, "n_eval": 4},
        resolved={"resolved_model": "bundled:SmolLM2-135M-Instruct"}, label_names=["neg", "pos"],
        metrics={"accuracy": 0.75, "macro_f1": 0.7}, diagnostics={
            "forgetting": {"before": 28.1, "after": 29.5, "text": "+5 %"}, "fit": {"verdict": "good fit",
                                                                                  "reason": "gap small"}},
        timings={"train_seconds": 12.5})
    record.config["input_template"] = "Tweet: {text}\nSentiment:"
    card = card_for(record, "ada/tweets-lora")
    meta = card.data.to_dict()
    assert "| input_template | Tweet: {text}\\nSentiment: |" in card.text  # one table row, not two
    assert "bundled copy of the base model" in card.text
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert meta["datasets"] == ["mteb/tweet_sentiment_extraction"]
    assert '"ada/tweets-lora"' in card.text and "28.10 → 29.50" in card.text and "good fit" in card.text
    json.dumps(meta)  # plain YAML types only
