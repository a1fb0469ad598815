import numpy as np
import pytest

from comparisons.ground.data import Split, TweetData, load_data, subset
from rag import RagConfig
from rag.classify import choose_k, knn_probs
from rag.embed import Embedder, register_embedder
from rag.index import build_index, recall_at_k
from rag.retrieval import Retriever
from rag.run import near_duplicates, run
from tests.stand_in import HashEmbedder

register_embedder("test-hash", HashEmbedder)


def test_vote_equals_hand_computed_weighted_vote():
    sims = np.array([[0.9, 0.8, 0.3, -0.2]])
    labels = np.array([[1, 0, 0, 1]])
    p = knn_probs(sims, labels, 2, 4)
    # label 0: 0.8 + 0.3 = 1.1; label 1: 0.9 + 0 (negative similarity counts 0) = 0.9
    assert p[0].tolist() == pytest.approx([1.1 / 2.0, 0.9 / 2.0])
    assert knn_probs(sims, labels, 2, 1)[0].tolist() == [0.0, 1.0]


def test_k_is_chosen_on_train_only():
    rng = np.random.RandomState(0)
    centers = rng.randn(3, 16)
    labels = rng.randint(0, 3, 300)
    vecs = centers[labels] + 0.8 * rng.randn(300, 16)
    vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype("float32")
    choice = choose_k(vecs, labels, 3, seed=1)
    assert choice["k"] in choice["validation_accuracy"] and choice["n_validation"] == 30
    assert len(set(choice["validation_rows"])) == 30  # a held-out slice of train rows
    best = max(choice["validation_accuracy"].values())
    assert choice["validation_accuracy"][choice["k"]] == best > 0.5  # the winner on that slice, well above chance


def test_rag_run_never_touches_test_labels_for_k(tmp_path, monkeypatch):
    data = subset(load_data("sample", seed=0), 200, 40, seed=0)
    flipped = TweetData(data.train, Split(data.test.texts, tuple((l + 1) % 3 for l in data.test.labels)),
                        data.label_names, "x")
    a = run(RagConfig(embedder="test-hash"), data)
    b = run(RagConfig(embedder="test-hash"), flipped)
    assert a.diagnostics["k_selection"]["k"] == b.diagnostics["k_selection"]["k"]
    assert a.predictions["y_pred"] == b.predictions["y_pred"]


def test_second_run_is_served_from_the_cache(tmp_path):
    data = subset(load_data("sample", seed=0), 100, 20, seed=0)
    emb = Embedder("test-hash", cache_dir=tmp_path)
    first = emb.encode(data.train.texts)
    n = HashEmbedder.calls
    again = emb.encode(data.train.texts)
    assert HashEmbedder.calls == n and emb.last_cache_hit
    assert np.array_equal(first, again)
    r1 = run(RagConfig(embedder="test-hash", k=5), data)
    r2 = run(RagConfig(embedder="test-hash", k=5), data)
    assert r2.diagnostics["cache_hit"] and r2.diagnostics["summary"]["cache_hit"]
    assert r1.predictions == r2.predictions


def test_near_duplicates_found_when_planted():
    emb = HashEmbedder()
    train = ["the cat sat on the mat", "dogs bark loudly at night", "rain again today"]
    test = ["The cat sat on the mat!", "something else entirely"]
    found = near_duplicates(emb.encode(train), emb.encode(test), 0.95)
    assert found["n_pairs"] == 1 and found["pairs"][0]["test_index"] == 0 and found["pairs"][0]["train_index"] == 0


def test_neighbours_exclude_the_query_itself():
    data = subset(load_data("sample", seed=0), 120, 20, seed=0)
    r = Retriever("test-hash").fit(data.train.texts, data.train.labels)
    q = data.train.texts[7]
    _, ids = r.neighbours([q], 5)
    norm = lambda s: " ".join(s.casefold().split())
    assert 7 not in ids[0] and all(norm(data.train.texts[i]) != norm(q) for i in ids[0])


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_report_recall(kind):
    rng = np.random.RandomState(0)
    vecs = rng.randn(3000, 32).astype("float32")
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    recall = recall_at_k(build_index(vecs, kind), build_index(vecs, "flat"), vecs[:200], 10)
    assert 0.5 < recall <= 1.0


@pytest.mark.parametrize("mode", ["knn", "linear"])
def test_modes_beat_chance_on_sample(mode):
    data = load_data("sample", seed=0)
    record = run(RagConfig(embedder="test-hash", mode=mode), data)
    assert record.metrics["accuracy"] > 1 / 3 + 0.1


def test_k_larger_than_train_is_a_user_error():
    from comparisons.ground.errors import UserError

    data = subset(load_data("sample", seed=0), 50, 10, seed=0)
    with pytest.raises(UserError, match="larger than the train set"):
        run(RagConfig(embedder="test-hash", k=500), data)


def test_prompt_mode_is_the_fewshot_scorer_on_retrieved_neighbours(tiny_gpt2):
    from fewshot import FewshotConfig
    from fewshot.run import FewshotClassifier

    data = subset(load_data("sample", seed=0), 80, 20, seed=0)
    record = run(RagConfig(mode="prompt", model=tiny_gpt2, embedder="test-hash", k=3), data)
    assert record.status == "completed" and record.resolved["k_used"] == 3
    assert 0 <= record.diagnostics["accuracy_uncalibrated"] <= 1
    same = FewshotClassifier(FewshotConfig(model=tiny_gpt2, shots=3, selection="retrieved", embedder="test-hash",
                                           template=record.config.get("template", "auto")), data)
    expected = same.score(data.test.texts)["probs"]
    assert np.allclose(np.asarray(record.predictions["probs"]), expected, atol=2e-4)
