import numpy as np
import pytest
import torch

from comparisons.ground.data import Split, TweetData, load_data, subset
from comparisons.ground.errors import UserError
from fewshot import FewshotConfig
from fewshot.run import FewshotClassifier, run
from fewshot.scoring import batch_prior, calibrate, every_calibration, hoist_common, label_logprobs
from rag.embed import register_embedder
from tests.stand_in import HashEmbedder

register_embedder("test-hash", HashEmbedder)


def small_data():
    return subset(load_data("sample", seed=0), 60, 12, seed=0)


def clf_for(model, **kw):
    base = dict(model=model, shots=3, selection="balanced", template="plain", calibrate=False,
                label_words="bad,ok,good", embedder="test-hash", seed=0)
    base.update(kw)
    return FewshotClassifier(FewshotConfig(**base), small_data())


def test_plain_prompt_is_exactly_the_expected_text(tiny_gpt2):
    clf = clf_for(tiny_gpt2)
    demos = [("i love it", 2), ("so sad", 0)]
    assert clf.builder.text(demos, "  a new\ntweet ") == (
        "Classify the sentiment of each tweet as bad, ok, good.\n\n"
        "Tweet: i love it\nSentiment: good\n\n"
        "Tweet: so sad\nSentiment: bad\n\n"
        "Tweet: a new tweet\nSentiment:")


def test_chat_prompt_is_exactly_the_expected_text(tiny_llama):
    clf = clf_for(tiny_llama, template="chat")
    assert clf.builder.text([("i love it", 2)], "a tweet") == (
        "<|im_start|>system\nClassify the sentiment of each tweet as bad, ok, good.<|im_end|>\n"
        "<|im_start|>user\ni love it<|im_end|>\n<|im_start|>assistant\ngood<|im_end|>\n"
        "<|im_start|>user\na tweet<|im_end|>\n<|im_start|>assistant\n")


def test_auto_template_picks_chat_only_when_the_model_has_one(tiny_gpt2, tiny_llama):
    assert clf_for(tiny_gpt2, template="auto").builder.template == "plain"
    assert clf_for(tiny_llama, template="auto").builder.template == "chat"
    with pytest.raises(UserError, match="no chat template"):
        clf_for(tiny_gpt2, template="chat")


def test_multi_token_label_score_equals_hand_computed_logprob(tiny_gpt2):
    clf = clf_for(tiny_gpt2, label_words="very bad,ok,very good")
    model, tok = clf.model, clf.tokenizer
    prompt = clf.prompts(["so happy today"], [[0, 1]])[0]
    scores = label_logprobs(model, [(prompt.prefix, prompt.suffix)], clf.builder.label_ids, pad_id=tok.pad_token_id,
                            use_cache=False)
    ids = prompt.ids() + clf.builder.label_ids[2]
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)
    n = len(prompt.ids())
    expected = sum(logp[n - 1 + j, t].item() for j, t in enumerate(clf.builder.label_ids[2]))
    assert len(clf.builder.label_ids[2]) == 2
    assert scores[0, 2].item() == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("words", ["bad,ok,good", "very bad,ok,very good"])
def test_cached_prefix_path_equals_plain_path(tiny_llama, words):
    clf = clf_for(tiny_llama, label_words=words, shots=4)
    data = small_data()
    prompts = clf.prompts(data.test.texts, clf.demonstrations(data.test.texts))
    pairs = [(p.prefix, p.suffix) for p in prompts]
    assert len({tuple(p.prefix) for p in prompts}) == 1 and len(prompts[0].prefix) > 20  # one shared prefix
    cached = label_logprobs(clf.model, pairs, clf.builder.label_ids, pad_id=clf.tokenizer.pad_token_id, use_cache=True,
                            batch_size=5)
    plain = label_logprobs(clf.model, pairs, clf.builder.label_ids, pad_id=clf.tokenizer.pad_token_id, use_cache=False,
                           batch_size=3)
    assert torch.allclose(cached, plain, atol=1e-4)


def test_hoisting_moves_shared_suffix_tokens_into_the_prefix_without_changing_any_prompt(tiny_gpt2):
    clf = clf_for(tiny_gpt2, shots=3)
    texts = list(small_data().test.texts) + ["", "N/A"]
    pairs = [(p.prefix, p.suffix) for p in clf.prompts(texts, clf.demonstrations(texts))]
    pairs.append(([7, 8], [1, 2, 3]))  # a prefix of its own: nothing to share with
    hoisted = hoist_common(pairs)
    assert [p + s for p, s in hoisted] == [p + s for p, s in pairs]  # the token sequences are unchanged
    assert hoisted[-1] == pairs[-1]
    lead = clf.tokenizer("Tweet:", add_special_tokens=False)["input_ids"]
    for (p0, s0), (p1, s1) in zip(pairs[:-1], hoisted[:-1]):
        assert p1 == p0 + lead and s1 == s0[len(lead):] and len(s1) >= 1
    # Suffixes that are all the same keep their last token: the label is read after it.
    same = hoist_common([([5], [1, 2]), ([5], [1, 2])])
    assert same == [([5, 1], [2]), ([5, 1], [2])]


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_long_label_after_a_hoisted_one_token_suffix_equals_plain_path(tiny_llama, batch_size):
    # Hoisting can leave a suffix of one token while a label has nine: the label's positions must
    # still line up, whichever rows share a forward pass.
    clf = clf_for(tiny_llama, label_words="bad,ok," + " ".join(["very"] * 8) + " good", shots=2,
                  example_format="{text}: {label}")
    texts = ["same start"] * 3  # every suffix is the whole common lead
    pairs = [(p.prefix, p.suffix) for p in clf.prompts(texts, clf.demonstrations(texts))]
    assert max(len(l) for l in clf.builder.label_ids) >= 9
    assert [len(s) for _, s in hoist_common(pairs)] == [1, 1, 1]
    kw = dict(pad_id=clf.tokenizer.pad_token_id, batch_size=batch_size)
    cached = label_logprobs(clf.model, pairs, clf.builder.label_ids, use_cache=True, **kw)
    plain = label_logprobs(clf.model, pairs, clf.builder.label_ids, use_cache=False, **kw)
    assert torch.allclose(cached, plain, atol=1e-4)


def test_calibration_divides_out_a_planted_bias():
    true = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
    bias = torch.tensor([0.1, 0.1, 0.8])  # the model over-predicts label 2
    biased = true * bias
    biased = biased / biased.sum(-1, keepdim=True)
    fixed = calibrate(biased, bias)
    assert torch.allclose(fixed, true / true.sum(-1, keepdim=True), atol=1e-6)
    assert biased.argmax(-1).tolist() == [2, 2, 2] and fixed.argmax(-1).tolist() == [0, 1, 2]


def test_batch_calibration_divides_out_a_planted_bias():
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 20)
    true = torch.full((60, 3), 0.2)
    true[torch.arange(60), torch.as_tensor(y)] = 0.6  # a balanced batch, each row right by a margin
    true += torch.as_tensor(rng.uniform(0, 0.05, (60, 3)), dtype=true.dtype)
    biased = true * torch.tensor([0.15, 0.15, 0.7])  # the model over-predicts label 2
    biased = biased / biased.sum(-1, keepdim=True)
    assert (biased.argmax(-1).numpy() == 2).all()
    fixed = calibrate(biased, batch_prior(biased))
    assert (fixed.argmax(-1).numpy() == y).all()


def test_batch_calibration_needs_no_extra_prompts_and_reuses_its_prior(tiny_gpt2, monkeypatch):
    import importlib

    fr = importlib.import_module("fewshot.run")
    clf = clf_for(tiny_gpt2, calibrate=True, calibration="batch", selection="retrieved")
    seen = []
    real = fr.label_logprobs
    monkeypatch.setattr(fr, "label_logprobs", lambda model, prompts, *a, **k: seen.append(len(prompts)) or
                        real(model, prompts, *a, **k))
    texts = list(small_data().train.texts[:20])
    out = clf.score(texts)
    assert seen == [20]  # no content-free prompts
    assert np.allclose(out["prior"], out["probs_uncalibrated"].mean(0), atol=1e-6)
    assert np.allclose(out["probs"], calibrate(torch.tensor(out["probs_uncalibrated"]),
                                               torch.tensor(out["prior"])).numpy(), atol=1e-6)
    # One tweet (Try it): the eval split's prior is applied; without one, it says so and stays raw.
    one = clf.score(texts[:1], prior=out["prior"])
    assert np.allclose(one["probs"][0], out["probs"][0], atol=1e-5)
    alone = clf.score(texts[:1])
    assert alone["note"] and np.allclose(alone["probs"], alone["probs_uncalibrated"])


def test_both_calibrations_compose_contextual_then_batch(tiny_gpt2):
    texts = list(small_data().train.texts[:20])
    ctx = clf_for(tiny_gpt2, calibrate=True, calibration="contextual").score(texts)["probs"]
    both = clf_for(tiny_gpt2, calibrate=True, calibration="both").score(texts)["probs"]
    expected = calibrate(torch.tensor(ctx), torch.tensor(ctx).mean(0)).numpy()
    assert np.allclose(both, expected, atol=1e-5)


def test_content_free_distribution_per_item_recomputes_contextual_calibration(tiny_gpt2):
    texts = list(small_data().train.texts[:6])
    out = clf_for(tiny_gpt2, selection="retrieved", calibrate=True, calibration="contextual").score(texts)
    cf = out["content_free"]
    assert cf.shape == out["probs"].shape and np.allclose(cf.sum(1), 1, atol=1e-5)
    assert len({tuple(np.round(r, 6)) for r in cf}) > 1  # each tweet's own demonstrations, its own bias
    again = calibrate(torch.tensor(out["probs_uncalibrated"]), torch.tensor(cf)).numpy()
    assert np.allclose(again, out["probs"], atol=1e-6)
    assert clf_for(tiny_gpt2, calibrate=True, calibration="batch").score(texts)["content_free"] is None


def test_every_calibration_from_one_pass_equals_each_calibrated_run(tiny_gpt2):
    texts = list(small_data().train.texts[:20])  # >= MIN_BATCH_FOR_PRIOR, so batch calibration applies
    out = clf_for(tiny_gpt2, selection="retrieved", calibrate=True, calibration="both").score(texts)
    every = every_calibration(torch.tensor(out["probs_uncalibrated"]), torch.tensor(out["content_free"]))
    assert np.allclose(every["none"].numpy(), out["probs_uncalibrated"])
    for method in ("contextual", "batch", "both"):
        run_probs = clf_for(tiny_gpt2, selection="retrieved", calibrate=True, calibration=method).score(texts)["probs"]
        assert np.allclose(every[method].numpy(), run_probs, atol=1e-5), method


def test_retrieved_demonstrations_never_include_the_item_or_a_duplicate(tiny_gpt2):
    data = small_data()
    dup = data.train.texts[5]
    test = Split(data.test.texts + (dup, "  " + dup.upper() + " "), data.test.labels + (0, 0))
    data2 = TweetData(data.train, test, data.label_names, "t")
    clf = FewshotClassifier(FewshotConfig(model=tiny_gpt2, shots=8, selection="retrieved", template="plain",
                                          embedder="test-hash", calibrate=False), data2)
    demos = clf.demonstrations(list(test.texts))
    norm = lambda s: " ".join(s.casefold().split())
    for text, ids in zip(test.texts, demos):
        assert len(ids) == 8
        assert all(norm(data.train.texts[i]) != norm(text) for i in ids)


def test_retrieved_order_puts_most_similar_last(tiny_gpt2):
    clf = clf_for(tiny_gpt2, selection="retrieved", shots=4)
    text = "i love this sunny day"
    ids = clf.demonstrations([text])[0]
    demo_vectors = clf.retriever.embed([clf.train_texts[i] for i in ids], use_cache=False)
    sims = demo_vectors @ clf.retriever.embed([text], use_cache=False)[0]
    assert list(np.argsort(sims)) == [0, 1, 2, 3]


def test_over_long_prompts_drop_demonstrations_from_the_front(tiny_gpt2):
    clf = clf_for(tiny_gpt2, max_length=60, shots=6)
    demos = [(f"{w} day is so so so", 2) for w in ("awful", "great", "today", "home", "work", "very")]
    p = clf.builder.build(demos, "a short tweet", share_demos=True)
    assert p.dropped > 0 and p.n_demos == 6 - p.dropped
    assert len(p.ids()) + 1 <= 60
    kept = clf.tokenizer.decode(p.prefix)
    assert "very" in kept and "awful" not in kept  # the last demonstrations survive
    huge = clf.builder.build(demos, "word " * 5000, share_demos=True)
    assert huge.n_demos == 0 and len(huge.ids()) + 1 <= 60


def test_run_records_both_accuracies_and_prompt_stats(tiny_gpt2, tmp_path):
    from comparisons.ground.runs import RunStore

    cfg = FewshotConfig(
        model=tiny_gpt2,
        shots=3,
        selection="balanced",
        template="plain",
        calibrate=True,
        calibration="contextual",
        seed=0,
    )
    record = run(cfg, small_data(), store=RunStore(tmp_path))
    d = record.diagnostics
    assert record.status == "completed" and record.metrics["n"] == 12
    assert d["accuracy_calibrated"] == record.metrics["accuracy"]
    assert 0 <= d["accuracy_uncalibrated"] <= 1 and d["prompt_tokens_mean"] > 10
    assert record.trainable_params == 0 and len(d["examples"]) == 5


def test_shots_beyond_train_and_wrong_label_words_are_user_errors(tiny_gpt2):
    with pytest.raises(UserError, match="shots but only"):
        clf_for(tiny_gpt2, shots=100)
    with pytest.raises(UserError, match="one label word per label"):
        clf_for(tiny_gpt2, label_words="a,b")


@pytest.mark.parametrize("words", ["bad,ok,good", "very bad,ok,very good"])
def test_batched_distinct_prefixes_equal_plain_path(tiny_llama, words):
    # Retrieved demonstrations with calibration: every item has its own cached prefix, several
    # prefixes of different lengths share one left-padded forward pass.
    clf = clf_for(
        tiny_llama, label_words=words, shots=3, selection="retrieved", calibrate=True, calibration="contextual"
    )
    texts = small_data().test.texts
    prompts = clf.prompts(texts, clf.demonstrations(texts))
    pairs = [(p.prefix, p.suffix) for p in prompts]
    assert len({tuple(p.prefix) for p in prompts}) > 5 and len({len(p.prefix) for p in prompts}) > 1
    kw = dict(pad_id=clf.tokenizer.pad_token_id, batch_size=7)
    cached = label_logprobs(clf.model, pairs, clf.builder.label_ids, use_cache=True, **kw)
    plain = label_logprobs(clf.model, pairs, clf.builder.label_ids, use_cache=False, **kw)
    assert torch.allclose(cached, plain, atol=1e-4)


def test_sweep_cli_gives_one_record_per_k(tiny_gpt2, tmp_path, capsys):
    import json

    from comparisons.cli import main

    code = main(
        [
            "run",
            "--method",
            "fewshot",
            "--model",
            tiny_gpt2,
            "--selection",
            "balanced",
            "--template",
            "plain",
            "--label-words",
            "bad,ok,good",
            "--sweep",
            "0,1,2",
            "--eval-size",
            "20",
            "--runs-dir",
            str(tmp_path),
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    labels = [r["label"] for r in out["sweep"]]
    assert "zero-shot" in labels[0] and "k=1 " in labels[1] and "k=2 " in labels[2]
    assert all(r["status"] == "completed" and 0 <= r["accuracy"] <= 1 for r in out["sweep"])
    # Longer prompts with more demonstrations.
    tokens = [r["prompt_tokens_mean"] for r in out["sweep"]]
    assert tokens == sorted(tokens) and tokens[0] < tokens[-1]
