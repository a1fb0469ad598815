"""Load on localhost: 20 concurrent gradio_client users use Try it and start few-shot runs while one
fine-tuning runs. Reports errors, the queue positions seen, and Try-it latency p50/p95.

    python bench/load_test.py [--clients 20]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import save, stamp  # noqa: E402
from bench.serve import serve_app  # noqa: E402
DATA = ["Bundled sample", None, "", "", "60", "20", 42, False]  # source, upload, columns, sizes, seed, drop leaked
FINETUNE = ["auto", "lora", 3, None, 8, 128, 1, 0.01, 0.1, 2, 0, 16, 32, 0]
FEWSHOT = ["auto", 2, "balanced", "plain", False, "batch", "Classify the sentiment of each tweet as {labels}.",
           "Tweet: {text}\nSentiment: {label}", ""]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--tries", type=int, default=3, help="Try-it calls per client")
    a = p.parse_args()
    from gradio_client import Client

    with serve_app(tempfile.mkdtemp(prefix="load-runs-")) as url:
        main_client = Client(url, verbose=False)
        main_client.predict("warm up", *DATA, api_name="/try_it")  # builds the retriever once
        training = main_client.submit(*FINETUNE, *DATA, api_name="/finetune")
        time.sleep(5)
        latencies, errors, ranks = [], [], []
        lock = threading.Lock()

        def user(i: int):
            try:
                c = Client(url, verbose=False)
                for t in range(a.tries):
                    t0 = time.perf_counter()
                    c.predict(f"user {i} says this is great fun {t}", *DATA, api_name="/try_it")
                    with lock:
                        latencies.append(time.perf_counter() - t0)
                if i % 4 == 0:  # every fourth user also queues a few-shot run behind the training
                    job = c.submit(*FEWSHOT, *DATA, api_name="/fewshot")
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
