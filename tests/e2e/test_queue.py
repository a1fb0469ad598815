"""One heavy queue: while a fine-tuning runs, few-shot jobs from other clients wait in order, with
their positions reported to the clients (gradio_client against `python app.py`)."""
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from bench.load_test import DATA, FEWSHOT, FINETUNE, free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


def test_heavy_jobs_queue_in_order_behind_training(tmp_path):
    Client = pytest.importorskip("gradio_client").Client
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_SERVER_PORT": str(port), "TPR_RUNS_DIR": str(tmp_path)}
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        training = Client(url, verbose=False).submit(*FINETUNE, *DATA, api_name="/finetune")
        time.sleep(3)
        jobs = [Client(url, verbose=False).submit(*FEWSHOT, *DATA, api_name="/fewshot") for _ in range(3)]
        seen = None
        for _ in range(30):
            time.sleep(1)
            statuses = [j.status() for j in jobs]
            if all(s.code.name == "IN_QUEUE" and s.rank is not None for s in statuses):
                seen = [(s.rank, s.queue_size) for s in statuses]
                break
        assert seen == [(0, 1), (1, 2), (2, 3)], seen
        assert training.status().code.name in ("PROCESSING", "PROGRESS", "ITERATING")
    finally:
        app.kill()
        app.wait(timeout=30)
