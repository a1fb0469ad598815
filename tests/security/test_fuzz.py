"""The public API fuzzed with hostile values (tests.security.fuzz): every answer a result or a one-line user error,
no traceback, no server path, none over 30 s, and the app still serving. The suite runs TPR_FUZZ_EXAMPLES calls
per endpoint (default 12: about 210 calls); `python -m bench.fuzz` runs 2,000+ and records the figures."""
from __future__ import annotations

import os

import pytest

from bench.serve import serve_app
from tests.security.fuzz import ENDPOINT_ORDER, FUZZ_ENV, Fuzzer, alive, server_folders
from tests.security.live import crashes

pytestmark = pytest.mark.e2e
pytest.importorskip("gradio_client")
EXAMPLES = int(os.environ.get("TPR_FUZZ_EXAMPLES", "12"))
GROUPS = [ENDPOINT_ORDER[i:i + 5] for i in range(0, len(ENDPOINT_ORDER), 5)]


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    log = tmp_path_factory.mktemp("log") / "app.log"
    with serve_app(runs, env=FUZZ_ENV, log=log) as url:
        yield Fuzzer(url, server_folders(runs)), url
        assert alive(url)  # the app still serves after every hostile call
    found = crashes(log.read_text())
    assert not found, found[:2]


@pytest.mark.parametrize("endpoints", GROUPS, ids=[g[0].strip("/") for g in GROUPS])
def test_hostile_values_get_a_result_or_a_one_line_error(fuzzer, endpoints):
    f, url = fuzzer
    for endpoint in endpoints:
        f.run(endpoint, EXAMPLES)
    assert not f.tally.problems and alive(url)
    assert all(f.tally.by_endpoint.get(e) for e in endpoints)


def test_every_public_endpoint_is_fuzzed():
    """A new endpoint (the decision card's /recommend was one) is attacked too, not left out of the list."""
    from tests.e2e.test_api import ENDPOINTS

    assert set(ENDPOINT_ORDER) == ENDPOINTS
