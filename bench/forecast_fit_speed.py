"""The forecast's fit against the recipe it replaced, on the saved real-tweet cells of bench.forecast_backtest: the
former recipe refitted each of the 400 bootstrap draws with scipy's curve_fit (trust-region, numerical Jacobian,
about 80 iterations a draw); comparisons.analysis.forecast.fit_many profiles the bounded linear part in closed form
over a grid of exponents for all draws at once. Both run on the same draws; the table gives each method's seconds,
the ratio, and the largest difference in the forecast at 4x and 27,480.

    python -m bench.forecast_fit_speed [--cells bench/out/forecast_backtest_cells.csv] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import pandas as pd

from comparisons.analysis import forecast

from .common import OUT, save, stamp


def reference_fit(n, y):
    """The former recipe: one bounded curve_fit per draw (sigma 1/sqrt(n)), from a start point near the data."""
    from scipy.optimize import curve_fit

    top = float(min(1.0, y.max() + 0.01))
    p0 = (top, max(1e-3, (top - y.min()) * n.min() ** 0.5), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            params, _ = curve_fit(forecast.power_law, n, y, p0=p0, sigma=1 / np.sqrt(n),
                                  bounds=([0, 0, 0], [1, np.inf, 2]), maxfev=20_000)
        except (RuntimeError, ValueError):
            params = (float(np.average(y, weights=n)), 0.0, forecast.FIXED_EXPONENT)
    return params


def sse(ns, draws, params):
    """Each draw's weighted squared error under its own fitted params."""
    fitted = forecast.power_law(ns[None, :], params[:, :1], params[:, 1:2], params[:, 2:])
    return ((draws - fitted) ** 2 * ns).sum(axis=1)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cells", default=str(OUT / "forecast_backtest_cells.csv"))
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    cells = pd.read_csv(args.cells)
    cells = cells[cells["role"] == "fitted"] if "role" in cells else cells
    rows = []
    for method, group in cells.groupby("method"):
        by_size = {int(n): list(g["accuracy"]) for n, g in group.groupby("train_size")}
        sizes = sorted(by_size)
        ns = np.array([n for n in sizes for _ in by_size[n]], dtype=float)
        rng = np.random.default_rng(0)
        draws = np.column_stack([rng.choice(by_size[n], size=(forecast.BOOTSTRAP, len(by_size[n])), replace=True)
                                 for n in sizes])
        times = {"reference": [], "profile": []}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            ref = np.array([reference_fit(ns, d) for d in draws])
            times["reference"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            new = forecast.fit_many(ns, draws)
            times["profile"].append(time.perf_counter() - t0)
        at = {n: float(np.max(np.abs(forecast.power_law(n, *ref.T) - forecast.power_law(n, *new.T))))
              for n in (4 * sizes[-1], 27_480)}

        excess = (sse(ns, draws, new) - sse(ns, draws, ref)) / np.maximum(sse(ns, draws, ref), 1e-12)
        rows.append({"method": method, "cells": len(ns), "draws": forecast.BOOTSTRAP,
                     "reference_s": round(statistics.median(times["reference"]), 3),
                     "profile_s": round(statistics.median(times["profile"]), 3),
                     "speedup": round(statistics.median(times["reference"]) / statistics.median(times["profile"]), 1),
                     "max_abs_diff_at": {str(k): round(v, 4) for k, v in at.items()},
                     "largest_relative_excess_error": float(f"{excess.max():.2g}"),  # > 0: the grid's step
                     "draws_where_profile_fits_better": int((excess < -1e-6).sum())})
    save(stamp(cells=args.cells, repeats=args.repeats, rows=rows), "forecast_fit_speed")


if __name__ == "__main__":
    main()
