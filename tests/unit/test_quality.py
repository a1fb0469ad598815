"""The data-quality report (comparisons.analysis.quality) on planted data, with the deterministic stand-in embedder."""
import json

import numpy as np
import pytest

from comparisons.analysis.quality import quality_report, rows_to_drop
from comparisons.cli import main
from comparisons.ground.data import Split, TweetData, drop_train_rows, load_data, subset
from comparisons.ground.errors import UserError
from rag.embed import register_embedder
from tests.stand_in import HashEmbedder

register_embedder("test-hash", HashEmbedder)
WORDS = {0: "awful terrible sad hate angry worst", 1: "meeting tuesday office report schedule weather",
         2: "lovely wonderful happy love great best"}


def planted(n_per_label=60, flips=8, seed=0):
    """Texts made of each label's words; `flips` rows get another label (the planted errors); one text
    appears twice with different labels (the planted conflict)."""
    rng = np.random.RandomState(seed)
    texts, labels = [], []
    for label, words in WORDS.items():
        vocab = words.split()
        for i in range(n_per_label):
            texts.append(" ".join(rng.choice(vocab, 4)) + f" {i}")
            labels.append(label)
    flipped = sorted(rng.choice(len(texts), flips, replace=False).tolist())
    for i in flipped:
        labels[i] = (labels[i] + 1) % 3
    texts.append(texts[0].upper() + "  ")  # the same text (case and spaces folded) with another label
    labels.append((labels[0] + 2) % 3)
    train = Split(tuple(texts), tuple(labels))
    test = Split(("happy love", "sad hate", "office report"), (2, 0, 1))
    return TweetData(train, test, ["negative", "neutral", "positive"], "planted"), flipped


def test_planted_label_flips_rank_among_the_top_suspects_and_a_conflict_is_found():
    data, flipped = planted()
    report = quality_report(data, embedder="test-hash")
    by_key = {f["key"]: f for f in report["findings"]}
    suspects = by_key["label_suspects"]["rows"]
    assert set(flipped) <= set(suspects[:15]), (flipped, suspects[:15])
    assert by_key["conflicting_duplicates"]["rows"] == [0, len(data.train) - 1]
    assert by_key["exact_duplicates"]["rows"] == [len(data.train) - 1]
    detail = by_key["label_suspects"]["detail"][0]
    assert {"row", "text", "label", "suggested", "label_quality"} <= set(detail)
    assert [d["rows"] for d in by_key["class_balance"]["detail"]] == np.bincount(data.train.labels).tolist()
    assert any(line.startswith("Suspected label errors") and f"of {len(data.train)} rows" in line
               for line in report["summary"])


def test_text_findings_on_planted_rows():
    data, _ = planted(flips=1)
    texts = list(data.train.texts)
    texts[3], texts[4], texts[5] = "https://t.co/abc", "@someone   @other", "😀😀 !!"
    texts[6] = " ".join(["word"] * 200)
    data.train = Split(tuple(texts), data.train.labels)
    by_key = {f["key"]: f for f in quality_report(data, embedder="test-hash")["findings"]}
    assert by_key["url_only"]["rows"] == [3]
    assert by_key["empty_after_cleaning"]["rows"] == [4]
    assert by_key["emoji_only"]["rows"] == [5]
    assert by_key["length_outliers"]["rows"] == [6]


def test_dropping_makes_a_new_fingerprint_and_never_touches_eval():
    data, flipped = planted()
    report = quality_report(data, embedder="test-hash")
    drop = rows_to_drop(report, ["suspects", "conflicts"], keep=[flipped[0]])
    assert flipped[0] not in drop["suspects"] and drop["conflicts"] == [0, len(data.train) - 1]
    clean = drop_train_rows(data, drop)
    n = len({r for v in drop.values() for r in v})
    assert len(clean.train) == len(data.train) - n and clean.train_fingerprint != data.train_fingerprint
    assert clean.test == data.test and clean.fingerprint == data.fingerprint
    assert clean.describe()["cleaning"]["n_dropped"] == n and "Cleaned: dropped" in clean.notices[-1]
    with pytest.raises(UserError, match="nothing to drop"):
        drop_train_rows(data, {"conflicts": []})


def test_eval_suspects_give_a_range_not_a_replacement(tmp_path):
    from comparisons.analysis.quality import eval_suspects
    from comparisons.ground.runs import RunRecord

    data = subset(load_data("sample", seed=0), 60, 40, seed=0)
    y = np.asarray(data.test.labels)
    probs = np.full((len(y), 3), 0.05)
    probs[np.arange(len(y)), y] = 0.9
    probs[:3] = 0.05
    probs[np.arange(3), (y[:3] + 1) % 3] = 0.9  # three gold labels the runs confidently disagree with
    predictions = {"y_true": y.tolist(), "y_pred": probs.argmax(1).tolist(), "probs": probs.tolist()}
    record = RunRecord("rag", {}, data.describe(), predictions=predictions)
    out = eval_suspects([record], data, top=3)
    assert {s["row"] for s in out["suspects"]} == {0, 1, 2}
    r = out["accuracy_if_mislabelled"][0]
    assert r["if_mislabelled_low"] == r["accuracy"] and r["if_mislabelled_high"] == pytest.approx(1.0)


def test_cli_quality_and_drop_bad_input(tmp_path, capsys):
    tiny = tmp_path / "five.csv"
    tiny.write_text("text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(5)))
    assert main(["data", "--data", str(tiny), "--quality", "--embedder", "test-hash", "--test-size", "0.4"]) == 2
    assert "needs at least 30 train rows" in capsys.readouterr().err
    assert main(["run", "--method", "baseline", "--data", "sample", "--drop", "typos"]) == 2
    assert "--drop takes suspects and/or conflicts" in capsys.readouterr().err
    data, _ = planted(flips=0)
    folder = tmp_path / "clean"
    folder.mkdir()
    rows = [{"text": t, "label": data.label_names[lab]} for t, lab in zip(data.train.texts[:-1], data.train.labels)]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (folder / "test.jsonl").write_text("\n".join(json.dumps({"text": t, "label": data.label_names[lab]})
                                                 for t, lab in zip(data.test.texts, data.test.labels)))
    assert main(["run", "--method", "baseline", "--data", str(folder), "--drop", "conflicts",
                 "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "nothing to drop" in capsys.readouterr().err and not list((tmp_path / "runs").glob("*/record.json"))
    assert main(["data", "--data", str(folder), "--quality", "--embedder", "test-hash", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_train"] == len(rows) and {f["key"] for f in out["findings"]} >= {"label_suspects", "class_balance"}
