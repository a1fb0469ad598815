import threading

import numpy as np
import pytest
import torch

from comparisons.ground.data import Split, TweetData
from comparisons.ground.runs import RunStore
from finetune import FinetuneConfig
from finetune.diagnostics import BUNDLED_PASSAGES, fit_verdict
from finetune.saved import predict_texts
from finetune.train import run

POS = ["good day", "love love", "so happy", "great day", "happy love", "good great"]
NEG = ["bad day", "hate hate", "so sad", "awful day", "sad hate", "bad awful"]


def toy(n_repeat=6):
    texts = [t for pair in zip(POS, NEG) for t in pair] * n_repeat
    labels = [i % 2 for i in range(len(texts))]
    return TweetData(Split(tuple(texts), tuple(labels)), Split(tuple(texts[:12]), tuple(labels[:12])),
                     ["negative", "positive"], "toy")


def cfg(model, **kw):
    # Tiny 2-layer models learn the toy set from the words themselves; the prompt-shaped input and
    # label-word head (defaults for pretrained models) have nothing pretrained to build on here.
    base = dict(model=model, epochs=3, batch_size=8, learning_rate=5e-3, eval_steps=3, curve_size=0,
                forgetting_tokens=0, warmup_ratio=0.0, seed=0, input_template="{text}", head_init="random")
    base.update(kw)
    return FinetuneConfig(**base)


@pytest.mark.parametrize("arch", ["tiny_gpt2", "tiny_llama"])
@pytest.mark.parametrize("mode", ["full", "lora"])
def test_training_lowers_loss_and_learns(arch, mode, request, tmp_path):
    model = request.getfixturevalue(arch)
    events = []
    record = run(cfg(model, mode=mode, learning_rate=5e-3 if mode == "full" else 2e-2), toy(), on_event=events.append,
                 store=RunStore(tmp_path))
    evals = [e for e in record.history if e["event"] == "eval"]
    assert record.status == "completed"
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]
    assert record.metrics["accuracy"] >= 0.9
    assert (
        record.trainable_params < record.total_params
        if mode == "lora"
        else record.trainable_params == record.total_params
    )


def test_lora_trains_only_adapters_and_head(tiny_gpt2):
    from comparisons.ground.models import load_classifier, resolve_lm
    from finetune.train import apply_lora

    clf, _ = load_classifier(resolve_lm(tiny_gpt2), 2, ["a", "b"], dtype=torch.float32)
    peft_model = apply_lora(clf, FinetuneConfig(model=tiny_gpt2, lora_r=4))
    trainable = {n: p.numel() for n, p in peft_model.named_parameters() if p.requires_grad}
    assert all("lora_" in n or "score" in n for n in trainable)
    # GPT-2's c_attn is Conv1D(32 -> 96): A is r x 32, B is 96 x r, in each of 2 layers; head 2 x 32.
    assert sum(trainable.values()) == 2 * (4 * 32 + 96 * 4) + 2 * 32


def test_events_arrive_in_order_with_keys(tiny_gpt2):
    events = []
    run(cfg(tiny_gpt2, epochs=1), toy(), on_event=events.append)
    kinds = [e["event"] for e in events]
    # Phases (loading, tokenising) come first so the page moves from the first second; then the Trainer's events.
    first_other = next(i for i, k in enumerate(kinds) if k != "phase")
    assert first_other > 0 and kinds[first_other] == "start" and kinds[-1] == "end" and "done" in kinds
    stages = [e["stage"] for e in events if e["event"] == "phase"]
    assert stages[0] == "loading the model" and stages[1].startswith("tokenising")
    steps = [e["step"] for e in events if e["event"] in ("train", "eval")]
    assert steps == sorted(steps)
    train = next(e for e in events if e["event"] == "train")
    assert {"step", "epoch", "loss", "learning_rate", "tweets_per_second", "eta_seconds"} <= set(train)
    ev = next(e for e in events if e["event"] == "eval")
    assert {"eval_loss", "eval_accuracy", "train_loss", "train_accuracy"} <= set(ev)


def test_stop_gives_stopped_record_with_history(tiny_gpt2, tmp_path):
    stop = threading.Event()

    def on_event(e):
        if e["event"] == "train" and e["step"] >= 2:
            stop.set()

    store = RunStore(tmp_path)
    record = run(cfg(tiny_gpt2, epochs=20, eval_steps=2), toy(), on_event=on_event, stop=stop, store=store)
    assert record.status == "stopped"
    assert record.timings["steps"] <= 3 < 20 * 9
    assert record.history and record.metrics["n"] == 12  # the model as it stood was evaluated
    assert store.load(record.run_id).status == "stopped"


def test_early_stopping_fires_on_planted_overfit(tiny_gpt2):
    rng = np.random.RandomState(0)
    words = "good bad love hate happy sad great awful day so".split()
    texts = tuple(" ".join(rng.choice(words, 3)) + f" {i}" for i in range(48))
    noise = tuple(int(x) for x in rng.randint(0, 2, 48))  # labels unrelated to text: only memorisable
    data = TweetData(Split(texts[:36], noise[:36]), Split(texts[36:], noise[36:]), ["a", "b"], "noise")
    # Every weight trains and evaluations are 5 epochs apart, so the noise is memorised between them: overfitting on
    # each of 4 seeds (measured 2026-12-03). LoRA at 1e-2 evaluated every 5 steps was a coin flip across seeds (2 of
    # 4), and passed only while the runs' starting weights came from whatever ran before them in the process.
    for seed in range(4):
        record = run(cfg(tiny_gpt2, mode="full", epochs=60, learning_rate=1e-3, eval_steps=15, patience=2,
                         batch_size=12, seed=seed), data)
        es = record.diagnostics["early_stopping"]
        assert es["stopped_early"] and es["restored_best"], seed
        assert record.timings["steps"] < 60 * 3
        assert record.diagnostics["fit"]["verdict"] == "overfitting", (seed, record.diagnostics["fit"]["reason"])


def test_a_runs_numbers_follow_from_its_seed_not_from_what_ran_before(tiny_gpt2):
    """The head and LoRA's A matrices are drawn before the Trainer seeds anything: the run seeds them itself."""
    import torch

    first = run(cfg(tiny_gpt2, mode="lora", learning_rate=1e-2), toy())
    torch.manual_seed(12345)  # another run, or anything else in this process, moved the global RNGs
    np.random.seed(12345)
    torch.rand(1000)
    again = run(cfg(tiny_gpt2, mode="lora", learning_rate=1e-2), toy())
    assert again.metrics == first.metrics
    assert [h.get("eval_loss") for h in again.history] == [h.get("eval_loss") for h in first.history]


def test_fit_verdict_rules():
    hist = [
        {"step": s, "eval_loss": el, "train_loss": tl, "eval_accuracy": 0.6, "train_accuracy": ta}
        for s, el, tl, ta in [(1, 1.0, 1.0, 0.5), (2, 0.8, 0.7, 0.7), (3, 0.9, 0.5, 0.8), (4, 1.0, 0.3, 0.9)]
    ]
    v = fit_verdict(hist, majority_rate=0.4)
    assert v["verdict"] == "overfitting" and v["best_step"] == 2
    flat = [
        {"step": s, "eval_loss": 1.1, "train_loss": 1.1, "eval_accuracy": 0.41, "train_accuracy": 0.42} for s in (1, 2)
    ]
    assert fit_verdict(flat, majority_rate=0.4)["verdict"] == "underfitting"


def test_forgetting_lora_disabled_equals_base_and_full_moves_it(tiny_gpt2):
    kw = dict(forgetting_tokens=256, forgetting_text=str(BUNDLED_PASSAGES), epochs=2)
    lora = run(cfg(tiny_gpt2, mode="lora", learning_rate=2e-2, **kw), toy()).diagnostics["forgetting"]
    assert lora["adapter_disabled_equals_base"]
    assert lora["after_adapter_disabled"] == pytest.approx(lora["base_on_check_window"], rel=1e-5)
    full = run(cfg(tiny_gpt2, mode="full", learning_rate=2e-2, **kw), toy()).diagnostics["forgetting"]
    assert full["before"] == pytest.approx(lora["before"], rel=1e-6)  # same base, same tokens
    assert not lora["before_from_cache"] and full["before_from_cache"]  # the base's pass is memoised
    assert abs(full["after"] - full["before"]) / full["before"] > 1e-3


def test_base_perplexity_memo_is_keyed_by_weights_and_tokens(tmp_path, monkeypatch):
    import os

    from finetune import diagnostics

    monkeypatch.setattr(diagnostics, "cache_root", lambda: tmp_path / "cache")
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    calls = []
    compute = lambda: calls.append(1) or 12.5  # noqa: E731
    windows = torch.arange(64).view(2, 32)
    memo = lambda w: diagnostics.memoised_perplexity(str(model), w, torch.float32, "cpu", compute)  # noqa: E731
    assert memo(windows) == (12.5, False)
    assert memo(windows) == (12.5, True) and len(calls) == 1
    assert memo(windows + 1) == (12.5, False) and len(calls) == 2  # other tokens
    st = (model / "model.safetensors").stat()
    os.utime(model / "model.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # new weights
    assert memo(windows) == (12.5, False) and len(calls) == 3
    assert diagnostics.memoised_perplexity("some/hub-id", windows, torch.float32, "cpu", compute) == (12.5, False)


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_save_and_reload_give_equal_predictions(tiny_gpt2, tmp_path, mode):
    data = toy()
    record = run(cfg(tiny_gpt2, mode=mode, epochs=1), data, store=RunStore(tmp_path))
    folder = record.artifacts["model_dir"]
    assert any(p.endswith(".safetensors") for p in __import__("os").listdir(folder))
    probs = predict_texts(folder, list(data.test.texts))
    assert np.allclose(probs.numpy(), np.asarray(record.predictions["probs"]), atol=1e-3)


def test_settings_out_of_range_are_user_errors():
    from comparisons.ground.errors import UserError

    for bad in (
        dict(learning_rate=0),
        dict(learning_rate=-1e-3),
        dict(epochs=0),
        dict(batch_size=0),
        dict(mode="half"),
        dict(lora_r=0),
    ):
        with pytest.raises(UserError):
            FinetuneConfig(**bad)


def test_label_word_head_starts_as_zero_shot_scores(tiny_gpt2):
    from comparisons.ground.models import load_causal_lm, load_classifier, resolve_lm
    from finetune.train import init_head_from_label_words

    resolved = resolve_lm(tiny_gpt2)
    clf, tok = load_classifier(resolved, 2, ["bad", "good"], dtype=torch.float32)
    init_head_from_label_words(clf, resolved, tok, ["bad", "good"])
    lm, _ = load_causal_lm(resolved)
    ids = torch.tensor([tok("so happy today", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        lm_logits = lm(ids).logits[0, -1]
        clf_logits = clf(ids).logits[0]
    label_ids = [
        tok(" bad", add_special_tokens=False)["input_ids"][0],
        tok(" good", add_special_tokens=False)["input_ids"][0],
    ]
    assert torch.allclose(clf_logits, lm_logits[label_ids], atol=1e-4)


def test_frozen_feature_probe_trains_only_a_head_and_caches_features(tmp_path, tiny_gpt2):
    """mode=head: the LM stays frozen, a logistic head trains on its last-token features; a second run reads the
    features from the cache; the LM's weights are unchanged."""
    from comparisons.ground.data import load_data, subset
    from comparisons.ground.runs import RunStore
    from comparisons.running.api import make_config, run_method

    data = subset(load_data("sample", seed=0), 120, 30, seed=0)
    config = make_config("finetune", {"mode": "head", "model": tiny_gpt2})
    store = RunStore(tmp_path)
    first = run_method("finetune", config, data, store=store)
    assert first.status == "completed" and 0 <= first.metrics["accuracy"] <= 1
    assert first.trainable_params == 32 * 3 + 3 and first.total_params > 1000 * first.trainable_params / 100
    assert first.diagnostics["features"]["train_from_cache"] is False
    again = run_method("finetune", config, data, store=store)
    assert again.diagnostics["features"]["train_from_cache"] is True
    assert again.predictions["y_pred"] == first.predictions["y_pred"]
    assert "frozen" in first.label and "nothing is forgotten" in first.diagnostics["forgetting"]["text"]


def test_frozen_features_do_not_depend_on_the_batch(tiny_gpt2):
    """GPT-2 has absolute positions: with left padding and no position_ids a row's features moved with its batch's
    longest row (192 of 200 rows changed between batch 64 and 512 on the real model). Right padding holds them."""
    import numpy as np
    import torch

    from comparisons.ground.data import load_data
    from comparisons.ground.models import load_causal_lm, resolve_lm
    from finetune.config import FinetuneConfig
    from finetune.head import features

    texts = list(load_data("sample", seed=0).train.texts[:40])
    lm, tok = load_causal_lm(resolve_lm(tiny_gpt2), dtype=torch.float32)
    one = features(lm, tok, texts, FinetuneConfig(model=tiny_gpt2, eval_batch_size=1))
    many = features(lm, tok, texts, FinetuneConfig(model=tiny_gpt2, eval_batch_size=40))
    assert np.abs(one - many).max() < 1e-4


def test_curve_slices_hold_the_seeds_rows_in_length_order(tiny_gpt2):
    """The Trainer scores a curve slice in the order given: the slice is the seed's draw, shortest first."""
    from comparisons.ground.models import load_causal_lm, resolve_lm
    from comparisons.ground.runs import new_record
    from finetune.train import build_datasets

    words = "good bad love hate happy sad great awful day so".split()
    texts = tuple(" ".join(words[: 1 + i % 9]) for i in range(24))  # 1 to 9 words
    labels = tuple(i % 2 for i in range(24))
    data = TweetData(Split(texts, labels), Split(texts[::-1], labels), ["a", "b"], "lengths")
    config = cfg(tiny_gpt2, curve_size=10, seed=3)
    _, tokenizer = load_causal_lm(resolve_lm(tiny_gpt2))
    sets = build_datasets(config, data, tokenizer, new_record("finetune", config, data))
    rng = np.random.RandomState(3)  # the draw build_datasets makes: eval first, then train
    drawn = {"eval": set(rng.choice(len(data.test), 10, False).tolist()),
             "train": set(rng.choice(len(data.train), 10, False).tolist())}
    for name, subset in sets.curves.items():
        lengths = [len(subset.dataset.input_ids[i]) for i in subset.indices]
        assert set(subset.indices) == drawn[name] and lengths == sorted(lengths), (name, lengths)
    assert len({len(x) for x in sets.eval.input_ids}) > 1  # the toy tweets differ in length, so order is tested
