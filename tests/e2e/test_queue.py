"""One heavy queue: while a fine-tuning runs, few-shot jobs from other clients wait in order, with
their positions reported to the clients (gradio_client against `python app.py`)."""
import time

import pytest

from bench.load_test import FEWSHOT, FINETUNE, client_with_data
from bench.serve import serve_app

pytestmark = pytest.mark.e2e


def test_heavy_jobs_queue_in_order_behind_training(tmp_path):
    pytest.importorskip("gradio_client")
    with serve_app(tmp_path) as url:
        training = client_with_data(url).submit(**FINETUNE, api_name="/run_finetune")
        time.sleep(3)
        clients = [client_with_data(url) for _ in range(3)]
        jobs = []
        for c in clients:  # submit() returns at once; space the requests so that they arrive in this order
            jobs.append(c.submit(**FEWSHOT, api_name="/run_fewshot"))
            time.sleep(1)
        seen = None
        for _ in range(30):
            time.sleep(1)
            statuses = [j.status() for j in jobs]
            if all(s.code.name == "IN_QUEUE" and s.rank is not None for s in statuses):
                seen = [(s.rank, s.queue_size) for s in statuses]
                break
        assert seen == [(0, 1), (1, 2), (2, 3)], seen
        assert training.status().code.name in ("PROCESSING", "PROGRESS", "ITERATING")
