"""One heavy queue: while a fine-tuning runs, few-shot jobs from other clients wait in order, with
their positions reported to the clients (gradio_client against `python app.py`)."""
import time

import pytest

from bench.load_test import DATA, FEWSHOT, FINETUNE
from bench.serve import serve_app

pytestmark = pytest.mark.e2e


def test_heavy_jobs_queue_in_order_behind_training(tmp_path):
    Client = pytest.importorskip("gradio_client").Client
    with serve_app(tmp_path) as url:
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
