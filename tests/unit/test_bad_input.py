"""Bad input: each case through the CLI (exit 2, one clear message, no traceback) and, for data and
settings, through the app's handlers (a visible error, the app still serving); nothing recorded is lost."""
import json

import pandas as pd
import pytest

from comparisons.cli import main
from comparisons.ground.runs import RunRecord, RunStore

GOOD = pd.DataFrame({"text": ["i love it", "i hate it", "it is a table"] * 10,
                     "label": ["positive", "negative", "neutral"] * 10})


def _csv(tmp_path, df=GOOD, name="d.csv"):
    p = tmp_path / name
    df.to_csv(p, index=False)
    return str(p)


def _tiny_bert(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    folder = tmp_path / "bert"
    BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                             num_attention_heads=2, intermediate_size=32)).save_pretrained(folder)
    return str(folder)


def _write(tmp_path, name, content: bytes | str):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(p)


# (id, argv builder, expected fragment of the message)
CASES = [
    ("missing file", lambda t: ["data", "--data", str(t / "nope.csv")], "File not found"),
    ("empty file", lambda t: ["data", "--data", _write(t, "e.csv", b"")], "is empty"),
    ("binary file", lambda t: ["data", "--data", _write(t, "b.csv", b"\x00\x01\x02PK\x03\x04" * 50)], "binary file"),
    ("undecodable", lambda t: ["data", "--data", _write(t, "u.csv", b"text,label\nok,1\n\xff\xfe,0\n")], "not UTF-8 at line 3"),
    ("oversized", lambda t: ["data", "--data", _csv(t), "--max-file-mb", "0.0001"], "over the 0.0001 MB limit"),
    ("ragged row", lambda t: ["data", "--data", _write(t, "r.csv", "text,label\na,1\nb,0,2,3\n")], "malformed CSV"),
    ("jsonl bad line", lambda t: ["data", "--data", _write(t, "j.jsonl", '{"text":"a","label":1}\n{oops}\n')], "line 2 is not valid JSON"),
    ("parquet wrong types", lambda t: ["data", "--data", _parquet(t)], "holds int values"),
    ("no text column", lambda t: ["data", "--data", _csv(t, GOOD.rename(columns={"text": "body"}))], "no text column"),
    ("no label column", lambda t: ["data", "--data", _csv(t, GOOD.rename(columns={"label": "y"}))], "no label column"),
    ("two candidate columns", lambda t: ["data", "--data", _csv(t, GOOD.assign(tweet=GOOD.text))], "several candidate text columns (text, tweet)"),
    ("NaN labels", lambda t: ["data", "--data", _write(t, "n.csv", "text,label\na,1\nb,NaN\nc,0\n")], "missing at row 2"),
    ("float labels", lambda t: ["data", "--data", _write(t, "f.csv", "text,label\na,1.5\nb,0\nc,1\n")], "fractional number 1.5"),
    ("label unknown in test", lambda t: ["data", "--data", _folder(t, test_label="surprised")], "test labels absent from train: surprised"),
    ("single class", lambda t: ["data", "--data", _write(t, "s.csv", "text,label\na,pos\nb,pos\nc,pos\n")], "only one class"),
    ("all texts empty", lambda t: ["data", "--data", _write(t, "x.csv", 'text,label\n"",1\n" ",0\n"",1\n" ",0\n')], "has no rows with text"),
    ("explicit column missing", lambda t: ["data", "--data", _csv(t), "--text-column", "tweet"], "no column 'tweet'"),
    ("hub dataset unreachable", lambda t: ["data", "--data", "nobody/no-such-dataset"], "cannot load the Hub dataset"),
    ("not a path nor an id", lambda t: ["data", "--data", "a b c"], "neither an existing file or folder nor a Hub dataset id"),
    ("lr zero", lambda t: ["run", "--method", "finetune", "--lr", "0", "--data", "sample"], "learning_rate must be > 0"),
    ("lr negative", lambda t: ["run", "--method", "finetune", "--lr=-1e-4", "--data", "sample"], "learning_rate must be > 0"),
    ("zero epochs", lambda t: ["run", "--method", "finetune", "--epochs", "0", "--data", "sample"], "epochs must be > 0"),
    ("batch zero", lambda t: ["run", "--method", "finetune", "--batch-size", "0", "--data", "sample"], "batch_size must be >= 1"),
    ("batch not a number", lambda t: ["run", "--method", "finetune", "--batch-size", "big", "--data", "sample"], "must be a int"),
    ("bad finetune mode", lambda t: ["run", "--method", "finetune", "--mode", "half", "--data", "sample"], "mode must be one of lora, full"),
    ("option of another method", lambda t: ["run", "--method", "finetune", "--k", "5", "--data", "sample"], "--k is not an option of --method finetune"),
    ("k larger than train", lambda t: ["run", "--method", "rag", "--k", "500", "--data", "sample", "--train-size", "50", "--eval-size", "10"], "k = 500 is larger than the train set (50 rows)"),
    ("k out of range", lambda t: ["run", "--method", "rag", "--k", "-3", "--data", "sample"], "k must be >= 0"),
    ("shots beyond train", lambda t: ["run", "--method", "fewshot", "--shots", "200", "--data", "sample", "--train-size", "50", "--model", TINY["gpt2"]], "200 shots but only 50 train rows"),
    ("eval size larger than split", lambda t: ["run", "--method", "rag", "--data", "sample", "--eval-size", "5000"], "eval size 5000 is larger than the eval split"),
    ("train size not a number", lambda t: ["run", "--method", "rag", "--data", "sample", "--train-size", "lots"], "size must be a positive whole number or 'all'"),
    ("hub model unreachable", lambda t: ["run", "--method", "fewshot", "--model", "someone/does-not-exist", "--data", "sample"], "cannot load the model 'someone/does-not-exist' from the Hub"),
    ("not a causal LM", lambda t: ["run", "--method", "fewshot", "--model", _tiny_bert(t), "--data", "sample"], "not a causal language model"),
    ("model folder missing", lambda t: ["run", "--method", "fewshot", "--model", "./no/such/model", "--data", "sample"], "model folder not found"),
    ("label words count", lambda t: ["run", "--method", "fewshot", "--label-words", "a,b", "--data", "sample", "--model", TINY["gpt2"]], "one label word per label"),
    ("bad selection", lambda t: ["run", "--method", "fewshot", "--selection", "best", "--data", "sample"], "selection must be one of"),
    ("bad index", lambda t: ["run", "--method", "rag", "--index", "tree", "--data", "sample"], "index must be one of flat, hnsw, ivf"),
    ("bad embedding backend", lambda t: ["run", "--method", "rag", "--backend", "openvino", "--data", "sample"], "backend must be one of torch, onnx, onnx-int8"),
    ("bad calibration", lambda t: ["run", "--method", "fewshot", "--calibration", "platt", "--data", "sample"], "calibration must be one of batch, contextual, both"),
    ("sweep for rag", lambda t: ["run", "--method", "rag", "--sweep", "0,1", "--data", "sample"], "--sweep is a few-shot option"),
    ("push to a malformed repo", lambda t: ["run", "--method", "rag", "--data", "sample", "--push-to-hub", "not a repo"], "a Hub repo is written 'your-name/model-name'"),
    ("push without a token", lambda t: ["run", "--method", "rag", "--data", "sample", "--push-to-hub", "you/tweets"], "cannot push: no Hugging Face token"),
    ("push an unknown run", lambda t: ["push", "nope-run", "you/tweets"], "no run 'nope-run'"),
    ("board code malformed", lambda t: ["board", "??"], "a board code is 6 letters and digits"),
    ("board unknown", lambda t: ["board", "ABCDEF"], "no board 'ABCDEF'"),
    ("board action without a code", lambda t: ["board", "--freeze"], "name the board"),
]


def _parquet(t):
    p = t / "w.parquet"
    pd.DataFrame({"text": [1, 2, 3], "label": [0, 1, 0]}).to_parquet(p)
    return str(p)


def _folder(t, test_label):
    d = t / "folder"
    d.mkdir()
    GOOD.to_csv(d / "train.csv", index=False)
    pd.DataFrame({"text": ["x", "y"], "label": ["positive", test_label]}).to_csv(d / "test.csv", index=False)
    return str(d)


TINY: dict[str, str] = {}


@pytest.fixture
def keeper(tmp_path):
    """A finished run that must survive every bad input."""
    store = RunStore(tmp_path / "runs")
    r = RunRecord(method="rag", config={"k": 3}, data={"fingerprint": "f"}, metrics={"accuracy": 0.7}, status="completed")
    store.save(r)
    return store, r


@pytest.mark.parametrize("name,argv,message", CASES, ids=[c[0] for c in CASES])
def test_cli_bad_input_exits_2_with_a_clear_message(name, argv, message, tmp_path, capsys, keeper, tiny_gpt2,
                                                    monkeypatch):
    TINY["gpt2"] = tiny_gpt2
    monkeypatch.delenv("HF_TOKEN", raising=False)
    args = argv(tmp_path)
    if args[0] in ("run", "push", "board"):
        args += ["--runs-dir", str(keeper[0].root)]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err, err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and last.startswith("error: ") and message in last
    assert sum(line.startswith("error:") for line in err.splitlines()) == 1
    store, kept = keeper
    assert store.load(kept.run_id).to_dict() == kept.to_dict()


@pytest.mark.parametrize("content", [
    "\ufefftext,label\r\n" + "hello there,positive\r\nbye now,negative\r\n" * 5,  # BOM + CRLF
    'text,label\n' + '"two\nlines",positive\n"a, b",negative\n' * 5,  # quoted newlines and commas
    "text,label\n" + "x" * 100_000 + ",positive\nshort,negative\n" * 3,  # a 100,000-character text
    "text,label\n😀😀,positive\n😡,negative\n🙂,positive\n😢,negative\n",  # emoji only
    "text,label\n   ,positive\n" + "hi,positive\nho,negative\nyo,negative\nhey,positive\n" * 2,  # whitespace dropped
])
def test_awkward_but_valid_files_load(tmp_path, capsys, content):
    p = tmp_path / "ok.csv"
    p.write_bytes(content.encode("utf-8"))
    assert main(["data", "--data", str(p), "--json", "--test-size", "0.5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["splits"]["train"]["rows"] >= 1 and out["label_names"] == ["negative", "positive"]


def test_long_text_is_truncated_not_fatal_in_prompts_and_training(tiny_gpt2):
    from comparisons.ground.data import Split, TweetData
    from fewshot import FewshotConfig
    from fewshot.run import run as fewshot_run

    long = "word " * 20_000
    data = TweetData(Split(("good day", "bad day", "love it", "hate it"), (1, 0, 1, 0)),
                     Split((long, "good"), (1, 1)), ["negative", "positive"], "t")
    record = fewshot_run(FewshotConfig(model=tiny_gpt2, shots=2, selection="balanced", template="plain"), data)
    assert record.status == "completed" and record.metrics["n"] == 2
