
import pandas as pd
import pytest

from comparisons.ground.data import (
    SAMPLE_PATH,
    drop_leaked,
    leakage_report,
    load_data,
    parse_size,
    read_table,
    subset,
    summary,
)
from comparisons.ground.errors import UserError

ROWS = [("i love it", "positive"), ("i hate it", "negative"), ("it is a table", "neutral")] * 10


def write(tmp_path, name, rows=ROWS, text="text", label="label"):
    df = pd.DataFrame(rows, columns=[text, label])
    p = tmp_path / name
    if name.endswith(".csv"):
        df.to_csv(p, index=False)
    elif name.endswith(".tsv"):
        df.to_csv(p, index=False, sep="\t")
    elif name.endswith(".jsonl"):
        df.to_json(p, orient="records", lines=True)
    elif name.endswith(".json"):
        df.to_json(p, orient="records")
    elif name.endswith(".parquet"):
        df.to_parquet(p)
    return p


@pytest.mark.parametrize("name", ["d.csv", "d.tsv", "d.jsonl", "d.json", "d.parquet"])
def test_every_format_loads_the_same_rows(tmp_path, name):
    data = load_data(str(write(tmp_path, name)), test_size=0.2, seed=1)
    assert data.label_names == ["negative", "neutral", "positive"]
    assert len(data.train) + len(data.test) == 30
    assert sorted(data.test.label_counts(3)) == [2, 2, 2]


@pytest.mark.parametrize("text,label", [("sentence", "sentiment"), ("tweet", "label_text"), ("TEXT", "Label")])
def test_columns_are_detected(tmp_path, text, label):
    data = load_data(str(write(tmp_path, "d.csv", text=text, label=label)))
    assert len(data.train) == 24


def test_explicit_columns_and_missing_column_lists_found(tmp_path):
    p = write(tmp_path, "d.csv", text="body", label="y")
    assert len(load_data(str(p), text_column="body", label_column="y").train) == 24
    with pytest.raises(UserError, match=r"no text column.*columns found: body, y"):
        load_data(str(p))
    with pytest.raises(UserError, match="no column 'nope'"):
        load_data(str(p), text_column="nope", label_column="y")


def test_label_and_label_text_pair_gives_ids_with_names(tmp_path):
    df = pd.DataFrame({"text": ["a b", "c d", "e f", "g h"] * 3, "label": [0, 1, 2, 1] * 3,
                       "label_text": ["neg", "neu", "pos", "neu"] * 3})
    df.to_csv(tmp_path / "d.csv", index=False)
    data = load_data(str(tmp_path / "d.csv"), test_size=0.34)
    assert data.label_names == ["neg", "neu", "pos"]


def test_ambiguous_columns_name_both(tmp_path):
    df = pd.DataFrame({"text": ["a"] * 4, "tweet": ["b"] * 4, "label": [0, 1, 0, 1]})
    df.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(UserError, match=r"several candidate text columns \(text, tweet\)"):
        load_data(str(tmp_path / "d.csv"))


@pytest.mark.parametrize("labels,names", [
    ([0, 1] * 10, ["0", "1"]),
    (["Positive", "negative "] * 10, ["negative", "positive"]),
    ([1, 2, 3, 4, 5] * 4, ["1", "2", "3", "4", "5"]),
    (["very negative", "negative", "neutral", "positive", "very positive"] * 4,
     ["very negative", "negative", "neutral", "positive", "very positive"]),
    (["b", "a", "c"] * 7, ["a", "b", "c"]),
    ([0.0, 1.0] * 10, ["0", "1"]),
])
def test_label_normalisation(tmp_path, labels, names):
    pd.DataFrame({"text": [f"text {i}" for i in range(len(labels))], "label": labels}).to_json(
        tmp_path / "d.jsonl", orient="records", lines=True)
    data = load_data(str(tmp_path / "d.jsonl"), test_size=0.25)
    assert data.label_names == names
    assert set(data.train.labels) == set(range(len(names)))


def test_folder_with_train_and_test(tmp_path):
    write(tmp_path, "train.csv")
    write(tmp_path, "test.csv", ROWS[:6])
    data = load_data(str(tmp_path))
    assert (len(data.train), len(data.test)) == (30, 6)


@pytest.mark.parametrize("setup,message", [
    (lambda p: None, "File not found"),
    (lambda p: p.write_bytes(b""), "is empty"),
    (lambda p: p.write_bytes(b"text,label\n"), "has no rows"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "looks like a binary file"),
    (lambda p: p.write_bytes(b"text,label\nfine,1\nbad \xff\xfe byte,0\n"), r"not UTF-8 at line 3"),
    (lambda p: p.write_text("text,label\na,1\nb,1\nc,1\n"), "only one class"),
    (lambda p: p.write_text("text,label\na,1\nb,\nc,0\n"), "missing at row 2"),
    (lambda p: p.write_text("text,label\na,1\nb,0.5\nc,0\n"), "fractional number 0.5 at row 2"),
    (lambda p: p.write_text('text,label\na,1\nb,0,extra,fields\n'), "malformed CSV"),
])
def test_validation_errors(tmp_path, setup, message):
    p = tmp_path / "d.csv"
    setup(p)
    with pytest.raises(UserError, match=message):
        load_data(str(p))


def test_oversized_file(tmp_path):
    p = write(tmp_path, "d.csv")
    with pytest.raises(UserError, match="over the 0.0001 MB limit"):
        read_table(p, max_file_mb=0.0001)


def test_test_labels_absent_from_train(tmp_path):
    write(tmp_path, "train.csv", [("a", "positive"), ("b", "negative")] * 3)
    write(tmp_path, "test.csv", [("c", "neutral"), ("d", "positive")])
    with pytest.raises(UserError, match="test labels absent from train: neutral"):
        load_data(str(tmp_path))


def test_empty_texts_are_dropped_and_counted(tmp_path):
    write(tmp_path, "d.csv", ROWS + [("   ", "positive"), ("", "negative")])
    data = load_data(str(tmp_path / "d.csv"))
    assert sum(data.dropped_empty.values()) == 2
    assert any("empty text" in n for n in data.notices)


def test_bom_crlf_and_quoted_newlines(tmp_path):
    raw = '\ufefftext,label\r\n"line one\r\nline two",positive\r\nplain,negative\r\n"x, y",positive\r\nz,negative\r\n'
    (tmp_path / "d.csv").write_bytes(raw.encode("utf-8"))
    data = load_data(str(tmp_path / "d.csv"), test_size=0.5)
    texts = set(data.train.texts + data.test.texts)
    assert "line one\r\nline two" in texts or "line one\nline two" in texts
    assert "x, y" in texts


def test_jsonl_bad_line_is_named(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": 1}\n{"text": "b", label: 0}\n')
    with pytest.raises(UserError, match="line 2 is not valid JSON"):
        load_data(str(tmp_path / "d.jsonl"))


def test_parquet_wrong_types(tmp_path):
    pd.DataFrame({"text": [1, 2, 3, 4], "label": [0, 1, 0, 1]}).to_parquet(tmp_path / "d.parquet")
    with pytest.raises(UserError, match="text column 'text' holds int values"):
        load_data(str(tmp_path / "d.parquet"))


def test_stratified_subsets_are_seeded():
    data = load_data("sample", seed=3)
    a, b, c = subset(data, 60, 30, seed=1), subset(data, 60, 30, seed=1), subset(data, 60, 30, seed=2)
    assert a.train.texts == b.train.texts and a.test.texts == b.test.texts
    assert a.train.texts != c.train.texts
    assert a.train.label_counts(3) == [20, 20, 20] or max(a.train.label_counts(3)) - min(a.train.label_counts(3)) <= 1
    assert a.fingerprint == b.fingerprint and a.fingerprint != c.fingerprint
    with pytest.raises(UserError, match="larger than the eval split"):
        subset(data, 10, 10_000)
    assert parse_size("all") is None
    with pytest.raises(UserError):
        parse_size("0")


def test_fingerprint_is_stable_value():
    # Pinned: a change in row order, sampling or hashing would break comparability of saved runs.
    data = subset(load_data("sample", seed=42), 100, 50, seed=42)
    assert (data.fingerprint, data.train_fingerprint) == ("4dc151b95d56c820", "0ea2c5e7bef3fc12")


def test_leakage_on_planted_duplicates(tmp_path):
    train = [(f"unique train text {i}", ["positive", "negative"][i % 2]) for i in range(20)]
    test = [("Unique  TRAIN text 3", "negative"), ("unique train text 4 ", "positive"), ("never seen", "positive")]
    write(tmp_path, "train.csv", train)
    write(tmp_path, "test.csv", test)
    data = load_data(str(tmp_path))
    report = leakage_report(data)
    assert report["n_leaked"] == 2
    assert {e["train_index"] for e in report["examples"]} == {3, 4}
    cleaned, n = drop_leaked(data)
    assert n == 2 and len(cleaned.train) == 18 and leakage_report(cleaned)["n_leaked"] == 0


def test_summary_counts_and_lengths():
    data = load_data("sample")
    s = summary(data)
    assert s["splits"]["train"]["rows"] == len(data.train)
    assert sum(s["splits"]["test"]["labels"].values()) == len(data.test)
    assert s["splits"]["train"]["length"]["max"] >= s["splits"]["train"]["length"]["p95"] >= 1


def test_offline_auto_falls_back_to_sample_with_notice():
    data = load_data(None)
    assert data.source == "sample"
    assert "Offline" in data.notices[0]
    assert len(set(data.train.labels)) == 3


def test_unreachable_hub_id_is_an_error_not_a_swap():
    with pytest.raises(UserError, match="cannot load the Hub dataset 'someone/tweets'"):
        load_data("someone/tweets")


def test_bundled_sample_has_every_label():
    df = pd.read_csv(SAMPLE_PATH)
    assert len(df) >= 300 and df["label_text"].value_counts().min() >= 100


def _frames():
    import pandas as pd

    train = pd.DataFrame({"text": ["good day", "bad day", "ok day", "so good", "so bad", "fine"] * 3,
                          "label": [2, 0, 1, 2, 0, 1] * 3})
    test = pd.DataFrame({"text": ["great", "awful", "meh"], "label": [2, 0, 1]})
    return train, test


def test_a_datasetdict_saved_with_save_to_disk_loads_with_its_label_names(tmp_path):
    import datasets

    train, test = _frames()
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "neutral", "positive"])})
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_pandas(train, features=features),
                               "test": datasets.Dataset.from_pandas(test, features=features)})
    dd.save_to_disk(str(tmp_path / "saved"))
    data = load_data(str(tmp_path / "saved"))
    assert (len(data.train), len(data.test)) == (18, 3) and data.label_names == ["negative", "neutral", "positive"]


def test_a_hub_snapshot_and_a_zip_of_it_load_with_splits_from_file_names(tmp_path):
    import zipfile

    train, test = _frames()
    snap = tmp_path / "snapshot"
    (snap / "data").mkdir(parents=True)
    (snap / "README.md").write_text("---\nlicense: mit\n---\n")
    train.iloc[:9].to_parquet(snap / "data" / "train-00000-of-00002.parquet")
    train.iloc[9:].to_parquet(snap / "data" / "train-00001-of-00002.parquet")
    test.to_parquet(snap / "data" / "validation-00000-of-00001.parquet")
    data = load_data(str(snap))
    assert (len(data.train), len(data.test)) == (18, 3)
    assert any("Splits from the file names" in n and "validation-00000" in n for n in data.notices)
    archive = tmp_path / "snapshot.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in snap.rglob("*"):
            z.write(p, p.relative_to(tmp_path))
    zipped = load_data(str(archive))
    assert zipped.fingerprint == data.fingerprint and zipped.train_fingerprint == data.train_fingerprint
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../escape.csv", "text,label\na,1\n")
    with pytest.raises(UserError, match="would unpack outside its folder"):
        load_data(str(evil))


def test_detected_columns_are_said(tmp_path):
    p = tmp_path / "kaggle.csv"
    p.write_text("textID,text,selected_text,sentiment\n" + "".join(
        f"{i},tweet number {i},number {i},{['negative', 'neutral', 'positive'][i % 3]}\n" for i in range(30)))
    data = load_data(str(p))
    assert any(n.startswith("Columns detected: text from 'text' and label from 'sentiment' (also there: textID, "
                            "selected_text)") for n in data.notices), data.notices
    named = load_data(str(p), text_column="selected_text", label_column="sentiment")
    assert not any(n.startswith("Columns detected") for n in named.notices)
    assert not any(n.startswith("Columns detected") for n in load_data("sample").notices)
