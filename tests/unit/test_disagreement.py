"""The disagreement browser's filters on planted predictions: each returns exactly the planted rows."""
import numpy as np
import pytest

from comparisons.analysis.disagreement import browser
from comparisons.ground.data import Split, TweetData
from comparisons.ground.errors import UserError
from comparisons.ground.runs import RunRecord

TEXTS = ("i love it", "i hate it", "it is tuesday", "great day", "awful day", "so so", "love love", "meh")
GOLD = (2, 0, 1, 2, 0, 1, 2, 1)


def data():
    return TweetData(Split(("a", "b", "c"), (0, 1, 2)), Split(TEXTS, GOLD), ["negative", "neutral", "positive"], "t")


def record(run_id: str, pred, conf=0.9, d=None):
    d = d or data()
    probs = np.full((len(pred), 3), (1 - conf) / 2)
    probs[np.arange(len(pred)), pred] = conf
    return RunRecord("rag", {"mode": "knn"}, d.describe(), run_id=run_id,
                     predictions={"y_true": list(GOLD), "y_pred": list(pred), "probs": probs.tolist()})


#                  rows: 0  1  2  3  4  5  6  7
A = record("run-a", [2, 0, 1, 0, 2, 1, 2, 1])  # wrong on 3, 4
B = record("run-b", [2, 1, 1, 0, 2, 0, 2, 0])  # wrong on 1, 3, 4, 5, 7
C = record("run-c", [2, 0, 0, 0, 2, 1, 2, 1], conf=0.5)  # wrong on 2, 3, 4, with low confidence


def test_each_filter_returns_exactly_the_planted_rows():
    b = browser([A, B, C], data())
    assert b.rows("all").tolist() == list(range(8))
    assert b.rows("all_wrong").tolist() == [3, 4]
    assert b.rows("a_right_b_wrong", "run-a", "run-b").tolist() == [1, 5, 7]
    assert b.rows("a_right_b_wrong", "run-b", "run-a").tolist() == []
    assert b.rows("disagree").tolist() == [1, 2, 5, 7]
    assert b.rows("confident_errors", threshold=0.8).tolist() == [1, 3, 4, 5, 7]  # C's errors are at 0.5
    assert b.rows("confident_errors", threshold=0.4).tolist() == [1, 2, 3, 4, 5, 7]
    assert b.rows("all", gold="neutral").tolist() == [2, 5, 7]
    assert b.rows("disagree", gold="neutral").tolist() == [2, 5, 7]
    assert b.rows("all", query="LOVE").tolist() == [0, 6]
    counts = b.counts("run-a", "run-b", 0.8)
    assert counts == {"all": 8, "all_wrong": 2, "a_right_b_wrong": 3, "disagree": 4, "confident_errors": 5}
    frame = b.frame(b.rows("all_wrong"))
    assert frame["text"].tolist() == ["great day", "awful day"] and frame.iloc[0, 2].startswith("✗ negative 0.90")
    assert list(frame.columns)[:2] == ["row", "gold"] and list(frame.columns)[-1] == "text"


def test_bad_filters_are_user_errors():
    b = browser([A, B], data())
    with pytest.raises(UserError, match="choose two different runs"):
        b.rows("a_right_b_wrong", "run-a", "run-a")
    with pytest.raises(UserError, match="not among the finished runs"):
        b.rows("a_right_b_wrong", "run-a", "run-zzz")
    with pytest.raises(UserError, match="gold label must be one of"):
        b.rows("all", gold="angry")
    with pytest.raises(UserError, match="unknown filter"):
        b.rows("sideways")
    other = TweetData(Split(("a",), (0,)), Split(TEXTS[::-1], GOLD[::-1]), ["negative", "neutral", "positive"], "t")
    elsewhere = record("run-x", list(GOLD[::-1]), d=other)
    with pytest.raises(UserError, match="different eval splits"):
        browser([A, elsewhere], data())
    with pytest.raises(UserError, match="load the data selection they used"):
        browser([elsewhere], data())
    with pytest.raises(UserError, match="no finished run"):
        browser([], data())
