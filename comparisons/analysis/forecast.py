"""Label-budget forecasts from a study's learning curves: an inverse power law acc(n) = a - b * n^(-c), fitted by
weighted nonlinear least squares (weights growing with n; Figueroa et al., BMC Med Inform Decis Mak 12:8, 2012),
bounded so that accuracy stays at most 1 and the curve rises or stays flat, with 95 % intervals by bootstrap over the
seeds' cells, widened beyond the sizes studied by the curve's own misfit (how far a refit without the largest size
missed it, growing with the log of the reach: the seeds' spread alone misses a curve that is not a power law over the
range, as TF-IDF's on the tweets); the accuracy forecast at any size, the labels needed to reach a target, how far
each forecast reaches beyond the sizes studied, and a backtest (refit without the largest size, predict it)."""
from __future__ import annotations

import functools
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


EXPONENTS = np.linspace(0.0, 2.0, 201)  # c's coarse grid (step 0.01), each draw's minimum then refined twice
REFINE = 21  # points across the two neighbouring steps of the previous grid, each pass: step 0.001, then 0.0001


def fit(sizes, accuracies) -> tuple[float, float, float]:
    """(a, b, c) of acc(n) = a - b n^-c by weighted least squares (weight n: larger sizes weigh more), with
    0 <= a <= 1, b >= 0 (never falling), 0 <= c <= 2."""
    n, y = np.asarray(sizes, dtype=float), np.asarray(accuracies, dtype=float)
    if len(set(n)) < 2:
        raise UserError("a forecast needs a study over train_size with at least two sizes (three or more to fit the "
                        "curve's exponent).")
    return tuple(float(p) for p in fit_many(n, y[None, :])[0])


def fit_many(n: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The bounded weighted fit of acc(n) = a - b n^-c for each row of `ys` (draws, cells) at once, (draws, 3).
    For a fixed exponent c the model is linear in (a, b): its bounded least squares has a closed form (the
    unconstrained optimum if it keeps 0 <= a <= 1 and b >= 0, else the best on the faces a = 0, a = 1 or b = 0), so
    the fit is that profile minimised over c: a grid of step 0.01, then two finer grids around each draw's best, so no
    start point to fall from and no iterations (scipy's curve_fit took about 80 iterations a refit and 400 refits a
    curve, several seconds a method; bench/forecast_fit_speed.py). Two sizes fix two parameters: c is held at a
    typical 0.5."""
    n, ys = np.asarray(n, dtype=float), np.atleast_2d(np.asarray(ys, dtype=float))
    if len(set(n)) <= 2:
        return _profile(n, ys, np.full((len(ys), 1), FIXED_EXPONENT))
    cs, step = np.broadcast_to(EXPONENTS, (len(ys), len(EXPONENTS))), EXPONENTS[1] - EXPONENTS[0]
    best = _profile(n, ys, cs)
    for _ in range(2):
        around = np.linspace(-step, step, REFINE)
        best = _profile(n, ys, np.clip(best[:, 2:] + around[None, :], 0.0, 2.0))
        step = 2 * step / (REFINE - 1)
    return best


def _profile(n: np.ndarray, ys: np.ndarray, cs: np.ndarray) -> np.ndarray:
    """For each draw (row of ys) and each of its exponents (row of cs, (draws, grid)), the bounded weighted least
    squares of the linear part; the best (a, b, c) of each draw."""
    w = n / n.sum()  # weights 1/sigma^2 with sigma = 1/sqrt(n), normalised (the minimiser does not change)
    x = np.power(n[None, None, :], -cs[:, :, None])  # (draws, grid, cells); the model is y = a + u x, u = -b <= 0
    sw, sx, sxx = w.sum(), x @ w, (x * x) @ w  # scalar, (draws, grid), (draws, grid)
    wy = ys * w  # (draws, cells)
    sy, syy = wy.sum(axis=1)[:, None], (wy * ys).sum(axis=1)[:, None]  # (draws, 1)
    sxy = np.einsum("dgm,dm->dg", x, wy)

    def sse(a, u):
        return syy - 2 * a * sy - 2 * u * sxy + a * a * sw + 2 * a * u * sx + u * u * sxx

    with np.errstate(divide="ignore", invalid="ignore"):
        det = sw * sxx - sx * sx
        u_in = (sw * sxy - sx * sy) / det
        a_in = (sy - u_in * sx) / sw
    inside = np.isfinite(u_in) & (det > 1e-12 * sw * sxx) & (a_in >= 0) & (a_in <= 1) & (u_in <= 0)
    candidates = [(np.broadcast_to(np.clip(sy / sw, 0, 1), sxy.shape), np.zeros_like(sxy)),  # flat: b = 0
                  *((np.full_like(sxy, face), np.minimum(0.0, (sxy - face * sx) / sxx)) for face in (0.0, 1.0)),
                  (np.where(inside, a_in, 0.0), np.where(inside, u_in, 0.0))]  # faces a = 0, a = 1; inside
    errors = np.stack([sse(a, u) for a, u in candidates])  # (4, draws, grid)
    errors[3][~inside] = np.inf
    which = errors.argmin(axis=0)  # the best candidate at each c
    k = np.take_along_axis(errors, which[None], 0)[0].argmin(axis=1)  # each draw's best c (ties: the smallest)
    rows = np.arange(len(ys))
    pick = which[rows, k]
    a = np.stack([c[0] for c in candidates])[pick, rows, k]
    u = np.stack([c[1] for c in candidates])[pick, rows, k]
    return np.column_stack([a, np.maximum(0.0, -u), cs[rows, k]])


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
        draws = power_law(n, *self.boot.T) if len(self.boot) else np.array([])
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
    finished study's cells do not change, and a card is asked for again and again."""
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
    ns = np.array([n for n in sizes for _ in by_size[n]], dtype=float)
    draws = np.column_stack([rng.choice(by_size[n], size=(BOOTSTRAP, len(by_size[n])), replace=True)
                             for n in sizes])  # (BOOTSTRAP, cells): the seeds resampled within each size
    boot = fit_many(ns, draws)
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
