"""The public API fuzzed at size: `python app.py` with the fuzz's caps (tests.security.fuzz.FUZZ_ENV), then
--examples hostile calls per endpoint with parameters (hypothesis, derandomised), one visitor. Counts results,
one-line user errors and problems (a traceback, a server path, a call over 30 s, an error that is not a user's),
times every call, scans the app's log for crashes and checks that it still serves.

    python -m bench.fuzz [--examples 120]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import save, stamp
from bench.serve import serve_app
from tests.security.fuzz import ENDPOINT_ORDER, FUZZ_ENV, Fuzzer, alive, server_folders
from tests.security.live import crashes


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--examples", type=int, default=120, help="hostile calls per endpoint with parameters")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tpr-fuzz-"))
    t0 = time.perf_counter()
    failures = []
    with serve_app(work / "runs", env=FUZZ_ENV, log=work / "app.log") as url:
        fuzzer = Fuzzer(url, server_folders(work / "runs"))
        for endpoint in ENDPOINT_ORDER:
            try:
                fuzzer.run(endpoint, args.examples)
            except AssertionError as e:  # hypothesis has shrunk it; keep going to count the rest
                failures.append(str(e)[:500])
        still_serving = alive(url)
    found = crashes((work / "app.log").read_text())
    save(stamp(examples_per_endpoint=args.examples, **fuzzer.tally.to_dict(), tracebacks_in_log=len(found),
               alive_after=still_serving, seconds=round(time.perf_counter() - t0), failures=failures,
               first_crashes=[c[-800:] for c in found[:3]], caps=FUZZ_ENV), "fuzz")


if __name__ == "__main__":
    main()
