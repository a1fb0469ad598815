"""Uncertainty of the figures the app compares, from scipy and statsmodels (no hand-rolled tests):

- one run's accuracy: a 95 % Wilson interval over its eval tweets;
- a cell of a study: the mean over seeds with a Student-t 95 % interval;
- two runs on the same eval split: a paired bootstrap interval of the accuracy difference (scipy's
  `bootstrap`, resampling tweets jointly) and McNemar's exact test on the discordant tweets (statsmodels).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from comparisons.ground.errors import UserError

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
BOOTSTRAP_RESAMPLES = 10_000


def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a proportion (statsmodels' proportion_confint)."""
    from statsmodels.stats.proportion import proportion_confint

    if n <= 0:
        return float("nan"), float("nan")
    lo, hi = proportion_confint(int(successes), int(n), alpha=1 - confidence, method="wilson")
    return float(lo), float(hi)


def accuracy_interval(record) -> tuple[float, float] | None:
    """A run's accuracy with its 95 % Wilson interval over its eval tweets (None without predictions)."""
    p = record.predictions or {}
    y_true, y_pred = p.get("y_true"), p.get("y_pred")
    if not y_true or y_pred is None or len(y_true) != len(y_pred):
        return None
    correct = int(np.sum(np.asarray(y_true) == np.asarray(y_pred)))
    return wilson(correct, len(y_true))


@dataclass
class MeanCI:
    mean: float
    low: float
    high: float
    n: int
    std: float
    kind: str  # "t over seeds", or "wilson" for a single run

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def mean_ci(values, confidence: float = CONFIDENCE, single_run_n: int | None = None,
            bounds: tuple[float, float] = (0.0, 1.0)) -> MeanCI:
    """Mean of a cell's values over seeds with a Student-t interval, clipped to the metric's `bounds` (two
    seeds give t = 12.7: an honest, wide interval, but never below 0 or above 1). With one value there is
    no spread to measure: the interval is that run's Wilson interval over its `single_run_n` eval tweets."""
    from scipy import stats

    v = np.asarray([x for x in values if x is not None], dtype=float)
    if len(v) == 0:
        return MeanCI(float("nan"), float("nan"), float("nan"), 0, float("nan"), "none")
    m = float(v.mean())
    if len(v) == 1:
        if single_run_n:
            lo, hi = wilson(round(m * single_run_n), single_run_n, confidence)
            return MeanCI(m, lo, hi, 1, 0.0, "wilson")
        return MeanCI(m, m, m, 1, 0.0, "single run")
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(v) - 1)) * sd / np.sqrt(len(v))
    return MeanCI(m, float(max(bounds[0], m - half)), float(min(bounds[1], m + half)), len(v), sd, "t over seeds")


@dataclass
class PairedTest:
    name_a: str
    name_b: str
    n: int
    accuracy_a: float
    accuracy_b: float
    difference: float  # accuracy A - B
    low: float  # bootstrap interval of the difference
    high: float
    a_only: int  # tweets A gets right and B wrong
    b_only: int
    p_value: float  # McNemar's exact test

    @property
    def interval_excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    @property
    def significant(self) -> bool:
        """A real difference: McNemar rejects at 5 % and the bootstrap interval excludes 0 (both tests agree)."""
        return self.p_value < ALPHA and self.interval_excludes_zero

    @property
    def borderline(self) -> bool:
        """One test says there is a difference and the other does not."""
        return (self.p_value < ALPHA) != self.interval_excludes_zero

    def verdict(self) -> str:
        """In words, e.g. "LoRA − RAG = +3.1 points (95 % CI +1.2 … +5.0), McNemar p = 0.002: a real difference".
        The rule: a real difference when the interval excludes 0 and McNemar's p < 0.05; borderline when only one of
        them says so (the interval and the test then disagree, and the verdict says which); else within noise."""
        pts = lambda x: f"{100 * x:+.1f}"  # noqa: E731
        head = (f"{self.name_a} − {self.name_b} = {pts(self.difference)} points (95 % CI {pts(self.low)} … "
                f"{pts(self.high)}), McNemar p = {format_p(self.p_value)}")
        if self.a_only + self.b_only == 0:
            return f"{head}: the two runs agree on every tweet's correctness"
        if self.significant:
            return f"{head}: a real difference ({self.a_only} tweets only A gets right, {self.b_only} only B)"
        if self.borderline and self.interval_excludes_zero:
            return (f"{head}: borderline — the bootstrap interval excludes 0 but McNemar's test does not reject at 5 % "
                    f"({self.a_only} tweets only A gets right, {self.b_only} only B); more eval tweets would settle it")
        if self.borderline:
            return (f"{head}: borderline — McNemar's test rejects at 5 % but the bootstrap interval includes 0; more "
                    "eval tweets would settle it")
        return f"{head}: within noise on {self.n} tweets"

    def to_dict(self) -> dict:
        return {"a": self.name_a, "b": self.name_b, "n": self.n, "accuracy_a": round(self.accuracy_a, 4),
                "accuracy_b": round(self.accuracy_b, 4), "difference": round(self.difference, 4),
                "ci_low": round(self.low, 4), "ci_high": round(self.high, 4), "a_only": self.a_only,
                "b_only": self.b_only, "p_value": self.p_value, "significant": self.significant,
                "borderline": self.borderline,
                "verdict": self.verdict()}


def format_p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def mcnemar_exact(correct_a, correct_b) -> tuple[int, int, float]:
    """(A-only right, B-only right, exact two-sided p) from statsmodels' McNemar test."""
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    table = [[int(np.sum(a & b)), int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
    result = mcnemar(table, exact=True)
    return table[0][1], table[1][0], float(result.pvalue)


def paired_bootstrap(correct_a, correct_b, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                     confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(accuracy A - B, interval low, high): scipy's percentile bootstrap, tweets resampled jointly."""
    from scipy.stats import bootstrap

    a, b = np.asarray(correct_a, dtype=float), np.asarray(correct_b, dtype=float)
    diff = float(a.mean() - b.mean())
    if np.all(a == b):
        return diff, diff, diff
    res = bootstrap((a, b), lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis), paired=True,
                    vectorized=True, n_resamples=resamples, confidence_level=confidence, method="percentile",
                    rng=np.random.default_rng(seed))
    return diff, float(res.confidence_interval.low), float(res.confidence_interval.high)


def paired_test(y_true, pred_a, pred_b, name_a: str = "A", name_b: str = "B", seed: int = 0) -> PairedTest:
    y, pa, pb = (np.asarray(x) for x in (y_true, pred_a, pred_b))
    if not (len(y) == len(pa) == len(pb)) or len(y) == 0:
        raise UserError("a paired test needs two runs' predictions on the same eval tweets.")
    ca, cb = pa == y, pb == y
    diff, lo, hi = paired_bootstrap(ca, cb, seed=seed)
    a_only, b_only, p = mcnemar_exact(ca, cb)
    return PairedTest(name_a, name_b, len(y), float(ca.mean()), float(cb.mean()), diff, lo, hi, a_only, b_only, p)


def paired_records(a, b, seed: int = 0) -> PairedTest:
    """The paired test of two finished runs; they must share their eval split (fingerprint)."""
    if a.data.get("fingerprint") != b.data.get("fingerprint"):
        raise UserError(f"{a.run_id} and {b.run_id} were evaluated on different eval splits; a paired test needs "
                        "the same tweets.")
    pa, pb = a.predictions or {}, b.predictions or {}
    if not pa.get("y_pred") or not pb.get("y_pred"):
        raise UserError("both runs need their predictions (a finished run keeps them).")
    if pa["y_true"] != pb["y_true"]:
        raise UserError(f"{a.run_id} and {b.run_id} hold different gold labels for the same split.")
    return paired_test(pa["y_true"], pa["y_pred"], pb["y_pred"], a.label, b.label, seed)
