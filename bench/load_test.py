"""Load on localhost: 20 concurrent gradio_client users use Try it and start few-shot runs while one
fine-tuning runs. Reports errors, the queue positions seen, and Try-it latency p50/p95.

    python bench/load_test.py [--clients 20]
"""
from __future__ import annotations

import argparse
import tempfile
import threading
import time

import numpy as np

from bench.common import save, stamp
from bench.serve import serve_app

# Keyword arguments of the app's public API (ui/api.py); each client first chooses its data selection.
DATA = {"source": "sample", "train_size": "60", "eval_size": "20", "seed": 42}
FINETUNE = {"mode": "lora", "epochs": 3, "batch_size": 8, "n_evals": 2, "forgetting_tokens": 0}
FEWSHOT = {"shots": 2, "selection": "balanced", "calibrate": False}


def client_with_data(url: str):
    """A gradio_client session whose data selection is DATA."""
    from gradio_client import Client

    c = Client(url, verbose=False)
    c.predict(**DATA, api_name="/load_data")
    return c


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--tries", type=int, default=3, help="Try-it calls per client")
    a = p.parse_args()
    with serve_app(tempfile.mkdtemp(prefix="load-runs-")) as url:
        main_client = client_with_data(url)
        main_client.predict("warm up", api_name="/classify")  # builds the retriever once
        training = main_client.submit(**FINETUNE, api_name="/run_finetune")
        time.sleep(5)
        latencies, errors, ranks = [], [], []
        lock = threading.Lock()

        def user(i: int):
            try:
                c = client_with_data(url)
                for t in range(a.tries):
                    t0 = time.perf_counter()
                    c.predict(f"user {i} says this is great fun {t}", api_name="/classify")
                    with lock:
                        latencies.append(time.perf_counter() - t0)
                if i % 4 == 0:  # every fourth user also queues a few-shot run behind the training
                    job = c.submit(**FEWSHOT, api_name="/run_fewshot")
                    for _ in range(20):
                        st = job.status()
                        if st.rank is not None:
                            with lock:
                                ranks.append({"user": i, "rank": st.rank, "queue_size": st.queue_size})
                            break
                        time.sleep(0.5)
                    try:
                        job.cancel()
                    except Exception:
                        pass
            except Exception as e:  # every failure is counted, none hides
                with lock:
                    errors.append(f"user {i}: {type(e).__name__}: {e}")

        t0 = time.perf_counter()
        threads = [threading.Thread(target=user, args=(i,)) for i in range(a.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        wall = time.perf_counter() - t0
        training_status = training.status().code.name
        try:
            training.cancel()
        except Exception:  # the server is busy training: cancelling may time out; the app stops with us
            pass
        lat = np.asarray(latencies)
        out = stamp(clients=a.clients, try_it_calls=int(len(lat)), errors=errors,
                    try_it_p50_s=round(float(np.percentile(lat, 50)), 3) if len(lat) else None,
                    try_it_p95_s=round(float(np.percentile(lat, 95)), 3) if len(lat) else None,
                    queue_positions_seen=ranks, training_while_loaded=training_status, wall_seconds=round(wall, 1))
    save(out, "load_test")


if __name__ == "__main__":
    main()
