"""Label-budget forecasts from a study's learning curves: an inverse power law acc(n) = a - b * n^(-c), fitted by
weighted nonlinear least squares (weights growing with n; Figueroa et al., BMC Med Inform Decis Mak 12:8, 2012),
bounded so that accuracy stays at most 1 and the curve rises or stays flat, with 95 % intervals by bootstrap over the
seeds' cells, widened beyond the sizes studied by the curve's own misfit (how far a refit without the largest size
missed it, growing with the log of the reach: the seeds' spread alone misses a curve that is not a power law over the
range, as TF-IDF's on the tweets); the accuracy forecast at any size, the labels needed to reach a target, how far
each forecast reaches beyond the sizes studied, and a backtest (refit without the largest size, predict it)."""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field

import numpy as np

from comparisons.ground.errors import UserError

REACH_WORDS = 4  # past 4x the largest size studied, a forecast says how far it reaches
REACH_UNRELIABLE = 16  # past 16x, its interval is marked unreliable
TARGET_REACH = 10  # labels for a target beyond 10x the largest size: "not reachable within 10x"
FLAT_GAIN = 0.01  # a curve that gains less than this from its smallest size to 10x its largest is flat
BOOTSTRAP = 400
FIXED_EXPONENT = 0.5  # with two sizes only (a backtest of a three-size study), c is held here


def power_law(n, a, b, c):
    return a - b * np.power(n, -c)


def fit(sizes, accuracies) -> tuple[float, float, float]:
    """(a, b, c) of acc(n) = a - b n^-c by weighted least squares (sigma 1/sqrt(n): larger sizes weigh more), with
    0 <= a <= 1, b >= 0 (never falling), 0 <= c <= 2."""
    from scipy.optimize import curve_fit

    n, y = np.asarray(sizes, dtype=float), np.asarray(accuracies, dtype=float)
    if len(set(n)) < 2:
        raise UserError("a forecast needs a study over train_size with at least two sizes (three or more to fit the "
                        "curve's exponent).")
    top = float(min(1.0, y.max() + 0.01))
    p0 = (top, max(1e-3, (top - y.min()) * n.min() ** 0.5), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if len(set(n)) == 2:  # two sizes fix two parameters: the exponent is held at a typical 0.5
                (a, b), _ = curve_fit(lambda x, a, b: power_law(x, a, b, FIXED_EXPONENT), n, y, p0=p0[:2],
                                      sigma=1 / np.sqrt(n), bounds=([0, 0], [1, np.inf]), maxfev=20_000)
                return float(a), float(b), FIXED_EXPONENT
            params, _ = curve_fit(power_law, n, y, p0=p0, sigma=1 / np.sqrt(n), bounds=([0, 0, 0], [1, np.inf, 2]),
                                  maxfev=20_000)
        except (RuntimeError, ValueError):  # no convergence: the flat curve at the weighted mean
            params = (float(np.average(y, weights=n)), 0.0, FIXED_EXPONENT)
    return tuple(float(p) for p in params)


def reach_words(n: float, largest: float) -> str:
    ratio = n / largest
    if ratio <= 1:
        return "within the sizes studied"
    if ratio <= REACH_WORDS:
        return f"{ratio:.1f}x the largest size studied"
    if ratio <= REACH_UNRELIABLE:
        return f"{ratio:.0f}x beyond the largest size studied: a long reach"
    return f"{ratio:.0f}x beyond the largest size studied: unreliable"


@dataclass
class Curve:
    """One method's fitted curve over a study's sizes, with bootstrap refits for intervals."""
    method: str
    params: tuple[float, float, float]
    sizes: list[int]
    means: list[float]
    boot: np.ndarray = field(repr=False)  # (BOOTSTRAP, 3) refitted parameters
    misfit: float = 0.0  # |error| of the refit without the largest size, predicting it (0 with fewer than 3 sizes)
    misfit_reach: float = 1.0  # how far that refit reached: the largest size over the second largest

    def allowance(self, n: float) -> float:
        """What the interval at n widens by, on each side, for the curve's misfit: the backtest's miss at its own
        reach, scaled by log(n / largest) / log(its reach); nothing within the sizes studied."""
        if self.misfit <= 0 or n <= self.largest or self.misfit_reach <= 1:
            return 0.0
        return float(self.misfit * np.log(n / self.largest) / np.log(self.misfit_reach))

    @property
    def largest(self) -> int:
        return max(self.sizes)

    @property
    def flat(self) -> bool:
        """More labels buy less than FLAT_GAIN between the smallest size and 10x the largest (a few-shot prompt with
        a fixed number of demonstrations, a fitted curve whose exponent is near 0)."""
        return power_law(TARGET_REACH * self.largest, *self.params) - power_law(min(self.sizes), *self.params) \
            < FLAT_GAIN

    def at(self, n: float) -> dict:
        """The forecast accuracy at n labelled tweets: mean, 95 % interval, and how far it reaches."""
        draws = np.array([power_law(n, *p) for p in self.boot])
        low, high = np.percentile(draws, [2.5, 97.5]) if len(draws) else (np.nan, np.nan)
        wider = self.allowance(n)
        low, high = max(0.0, low - wider), min(1.0, high + wider)
        return {"n": int(n), "mean": round(float(power_law(n, *self.params)), 4), "low": round(float(low), 4),
                "high": round(float(high), 4), "reach": reach_words(n, self.largest),
                "unreliable": n / self.largest > REACH_UNRELIABLE}

    def labels_for(self, target: float) -> dict:
        """Labels needed to reach `target` accuracy (with an interval), or the reason there is no such number."""
        if not 0 < target <= 1:
            raise UserError(f"a target accuracy is a number between 0 and 1, got {target}.")
        if self.flat:
            return {"n": None, "reason": "flat: more labels do not help this method"}
        if max(self.means) >= target:
            n = min(s for s, m in zip(self.sizes, self.means) if m >= target)
            return {"n": n, "low": n, "high": n, "reason": "reached within the sizes studied"}
        needed = [_solve(p, target) for p in (self.params, *self.boot)]
        point, draws = needed[0], np.array([x for x in needed[1:] if x is not None])
        cap = TARGET_REACH * self.largest
        if point is None or point > cap:
            return {"n": None, "reason": f"not reachable within {TARGET_REACH}x the largest size studied "
                                         f"({cap:,} labels)"}
        share = len(draws) / max(1, len(needed) - 1)  # refits that reach the target at all
        low, high = (np.percentile(draws, [2.5, 97.5]) if len(draws) else (point, np.inf))
        wider = self.allowance(point)
        if wider:  # the misfit, as for accuracy: the curve a little higher or lower at that size
            early, late = _solve(self.params, target - wider), _solve(self.params, target + wider)
            low = max(self.largest, min(low, early if early is not None else self.largest))  # not yet there
            if late is None or late > cap:
                share = 0.0  # the lower curve never gets there: no upper bound
            else:
                high = max(high, late)
        return {"n": int(round(point)), "low": int(round(low)),
                "high": int(round(high)) if share >= 0.975 and np.isfinite(high) else None,
                "reason": reach_words(point, self.largest)}


def _solve(params, target: float) -> float | None:
    a, b, c = params
    if target >= a or b <= 0 or c <= 1e-3:
        return None
    with np.errstate(over="ignore"):
        n = float(np.power(b / (a - target), 1 / c))
    return n if np.isfinite(n) else None


def fit_curve(method: str, cells: list[tuple[int, float]], seed: int = 0) -> Curve:
    """A method's curve from its cells [(train size, accuracy)], one per seed and size; the bootstrap resamples
    the cells within each size (the seeds), so the interval is the seeds' spread, not only the fit's. Memoised: a
    finished study's cells do not change, and its 400 refits cost seconds a method each time a card is asked for."""
    return _fit_curve(method, tuple(sorted((int(n), float(a)) for n, a in cells if a is not None and n)), seed)


@functools.lru_cache(maxsize=64)
def _fit_curve(method: str, cells: tuple, seed: int) -> Curve:
    by_size: dict[int, list[float]] = {}
    for n, acc in cells:
        if acc is not None and n:
            by_size.setdefault(int(n), []).append(float(acc))
    sizes = sorted(by_size)
    params = fit([n for n in sizes for _ in by_size[n]], [a for n in sizes for a in by_size[n]])
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(BOOTSTRAP):
        ns, ys = [], []
        for n in sizes:
            draw = rng.choice(by_size[n], size=len(by_size[n]), replace=True)
            ns += [n] * len(draw)
            ys += list(draw)
        boot.append(fit(ns, ys))
    misfit, reach = 0.0, 1.0
    if len(sizes) >= 3:  # the backtest's point error: refit without the largest size, predict it
        smaller = sizes[:-1]
        refit = fit([n for n in smaller for _ in by_size[n]], [a for n in smaller for a in by_size[n]])
        misfit = abs(float(power_law(sizes[-1], *refit)) - float(np.mean(by_size[sizes[-1]])))
        reach = sizes[-1] / sizes[-2]
    return Curve(method, params, sizes, [float(np.mean(by_size[n])) for n in sizes], np.array(boot), misfit, reach)


def backtest(method: str, cells: list[tuple[int, float]]) -> dict | None:
    """Refit without the largest size and predict it: the forecast's own error, and whether the measured mean fell in
    its interval. None with fewer than three sizes (a refit on two holds the exponent at 0.5)."""
    sizes = sorted({int(n) for n, _ in cells})
    if len(sizes) < 3:
        return None
    largest = sizes[-1]
    curve = fit_curve(method, [(n, a) for n, a in cells if int(n) != largest])
    predicted = curve.at(largest)
    measured = float(np.mean([a for n, a in cells if int(n) == largest]))
    return {"n": largest, "predicted": predicted["mean"], "low": predicted["low"], "high": predicted["high"],
            "measured": round(measured, 4), "error": round(predicted["mean"] - measured, 4),
            "inside": predicted["low"] <= measured <= predicted["high"]}


def study_cells(cells_frame) -> dict[str, list[tuple[int, float]]]:
    """{method: [(train size, accuracy)]} from a study's cell frame (comparisons.analysis.study_report.cell_frame)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for row in cells_frame.itertuples():
        if row.accuracy is not None and row.train_size:
            out.setdefault(row.method, []).append((int(row.train_size), float(row.accuracy)))
    return out


def forecasts(cells_frame, at: list[int] | None = None, target: float | None = None) -> list[dict]:
    """Every method's curve of a study over train_size: the fit, forecasts at `at`, labels for `target`, backtest."""
    out = []
    for method, cells in study_cells(cells_frame).items():
        try:
            curve = fit_curve(method, cells)
        except UserError as e:
            out.append({"method": method, "error": str(e)})
            continue
        a, b, c = curve.params
        entry = {"method": method, "a": round(a, 4), "b": round(b, 4), "c": round(c, 4), "flat": curve.flat,
                 "sizes": curve.sizes, "means": [round(m, 4) for m in curve.means],
                 "forecast": [curve.at(n) for n in at or ()], "backtest": backtest(method, cells)}
        if target is not None:
            entry["labels_for_target"] = curve.labels_for(target)
        out.append(entry)
    return out


def forecast_lines(entries: list[dict], target: float | None = None) -> list[str]:
    """The forecasts in words, a line a method."""
    lines = []
    for e in entries:
        if "error" in e:
            lines.append(f"{e['method']}: {e['error']}")
            continue
        if e["flat"]:
            lines.append(f"{e['method']}: flat — more labels do not help this method (ceiling {e['a']:.3f}).")
            continue
        parts = [f"ceiling {e['a']:.3f}"]
        for f in e["forecast"]:
            warn = " (interval unreliable)" if f["unreliable"] else ""
            parts.append(f"{f['mean']:.3f} ({f['low']:.3f}–{f['high']:.3f}) at {f['n']:,} labels, "
                         f"{f['reach']}{warn}")
        t = e.get("labels_for_target")
        if t is not None:
            if t["n"] is None:
                parts.append(f"{target:.2f}: {t['reason']}")
            else:
                span = f" ({t['low']:,}–{t['high']:,})" if t.get("high") else f" (at least {t['low']:,})"
                parts.append(f"{target:.2f} needs about {t['n']:,} labels{span}")
        bt = e.get("backtest")
        if bt:
            parts.append(f"backtest: predicted {bt['predicted']:.3f} at {bt['n']:,} from the smaller sizes, measured "
                         f"{bt['measured']:.3f} ({100 * bt['error']:+.1f} points, "
                         f"{'inside' if bt['inside'] else 'outside'} its interval)")
        lines.append(f"{e['method']}: " + "; ".join(parts) + ".")
    return lines
