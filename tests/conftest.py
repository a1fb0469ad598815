import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# CPU tests hide CUDA (here and in the subprocesses they start), so the suite passes on a GPU machine too;
# `TPR_TEST_GPU=1 python -m pytest -m gpu` (bench/gpu_check.py) runs the gpu-marked tests on the device.
GPU_RUN = os.environ.get("TPR_TEST_GPU") == "1"
if not GPU_RUN:
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The suite runs on pytest-xdist (the README's command: -n auto --dist loadfile): a test file to a worker, so that a
# file's tests keep their order (the browser journeys build on one another); ports are never fixed (free_port). Each
# worker, and every app, CLI and Ray process its tests start, uses its share of the cores: uncapped, two workers'
# torch threads thrashed (1,001 s for the suite and 24 CPU-minutes, against 699 s and 16 capped).
if os.environ.get("PYTEST_XDIST_WORKER"):
    _share = max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))
os.environ.setdefault("TPR_SECRET", "the-test-suite's-cookie-signing-key")  # no key file written into ./runs

from tests.tiny import make_tiny  # noqa: E402


def free_port() -> int:
    """A port nothing listens on now (the app, Ray and torchrun in tests; tests run in parallel, so none is fixed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

SHARED_DATA = Path(os.environ.get("TPR_SHARED_DATA", ROOT.parent / "shared" / "data"))
TWEETS = SHARED_DATA / "tweet_sentiment_extraction"
WIKITEXT = SHARED_DATA / "wikitext-2-raw" / "wiki.test.raw"


def pytest_collection_modifyitems(config, items):
    if GPU_RUN:
        return
    skip = pytest.mark.skip(reason="needs a GPU: run with TPR_TEST_GPU=1 -m gpu (bench/gpu_check.py does)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def sample_texts():
    import csv

    with open(ROOT / "comparisons" / "sample_tweets.csv", encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f)]


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory, sample_texts):
    return str(make_tiny(tmp_path_factory.mktemp("tiny-gpt2"), "gpt2", sample_texts))


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory, sample_texts):
    return str(make_tiny(tmp_path_factory.mktemp("tiny-llama"), "llama", sample_texts, chat=True))


@pytest.fixture(scope="session")
def real_tweets():
    if not (TWEETS / "train.csv").exists():
        pytest.skip(f"real tweets not found at {TWEETS} (set TPR_SHARED_DATA)")
    return TWEETS


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Embedding caches go to a per-session folder; the bundled LM checkpoint stays shared."""
    monkeypatch.setenv("TPR_EMBED_CACHE", str(tmp_path_factory.getbasetemp() / "embed-cache"))
