"""A workshop on localhost: `python app.py`, one client fine-tunes (LoRA, bundled model) while 30 visitors, each
its own gradio_client session, call Try it over and over and each queue one few-shot or RAG job behind the
training; a host makes a workshop board and two of the visitors join it. Afterwards every visitor must see exactly
their own runs, the board exactly its members' runs, and no run may be lost.

    python -m bench.load_test [--clients 30] [--seconds 300]
"""
from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.common import save, stamp
from bench.serve import serve_app

# Keyword arguments of the app's public API (ui/api.py); each client first chooses its data selection.
DATA = {"source": "sample", "train_size": "60", "eval_size": "20", "seed": 42}
FINETUNE = {"mode": "lora", "epochs": 3, "batch_size": 8, "n_evals": 2, "forgetting_tokens": 0}
FEWSHOT = {"shots": 2, "selection": "balanced", "calibrate": False}
RAG = {"mode": "knn", "k": 5}


def client_with_data(url: str):
    """A gradio_client session whose data selection is DATA."""
    from gradio_client import Client

    c = Client(url, verbose=False)
    c.predict(**DATA, api_name="/load_data")
    return c


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=30)
    p.add_argument("--seconds", type=float, default=300, help="how long the visitors keep calling Try it")
    p.add_argument("--epochs", type=float, default=12, help="the fine-tuning's epochs (sized to take ~2 minutes)")
    a = p.parse_args()
    runs_dir = Path(tempfile.mkdtemp(prefix="load-runs-"))
    with serve_app(runs_dir) as url:
        trainer = client_with_data(url)
        trainer.predict("warm up", api_name="/classify")  # builds the retriever once
        host = client_with_data(url)
        board = host.predict(title="load test", nickname="host", fix_selection=True, api_name="/create_board")
        training = trainer.submit(**{**FINETUNE, "epochs": a.epochs}, api_name="/run_finetune")
        time.sleep(5)
        lock = threading.Lock()
        latencies, errors, owned, clients, training_busy = [], [], {}, {}, []
        deadline = time.perf_counter() + a.seconds

        def visitor(i: int):
            try:
                c = client_with_data(url)
                clients[i] = c
                if i < 2:
                    c.predict(board["code"], f"visitor {i}", api_name="/join_board")
                job = c.submit(**(FEWSHOT if i % 2 else RAG), api_name="/run_fewshot" if i % 2 else "/run_rag")
                t = 0
                while time.perf_counter() < deadline or not job.done():
                    t0 = time.perf_counter()
                    c.predict(f"visitor {i} says this is great fun {t}", api_name="/classify")
                    with lock:
                        latencies.append(time.perf_counter() - t0)
                        training_busy.append(not training.done())
                    t += 1
                    time.sleep(1.0)
                    if time.perf_counter() > deadline + 900:
                        raise TimeoutError("the queued job did not finish within 15 minutes of the deadline")
                out = job.result()
                with lock:
                    owned[i] = out["run_id"]
            except Exception as e:  # every failure is counted, none hides
                with lock:
                    errors.append(f"visitor {i}: {type(e).__name__}: {e}")

        t0 = time.perf_counter()
        threads = [threading.Thread(target=visitor, args=(i,)) for i in range(a.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(a.seconds + 1200)
        wall = time.perf_counter() - t0
        finetune = training.result(timeout=600)

        # Afterwards: each sees exactly their own runs; the board exactly its members' runs; nothing lost.
        wrong_views = []
        for i, c in clients.items():
            mine = {r["run_id"] for r in c.predict(api_name="/my_runs")["runs"]}
            if mine != ({owned[i]} if i in owned else set()):
                wrong_views.append({"visitor": i, "sees": sorted(mine), "owns": owned.get(i)})
        if {r["run_id"] for r in trainer.predict(api_name="/my_runs")["runs"]} != {finetune["run_id"]}:
            wrong_views.append({"visitor": "trainer"})
        entries = {e["run_id"] for e in host.predict(board["code"], api_name="/board")["entries"]}
        board_ok = entries == {owned[i] for i in (0, 1) if i in owned}
        records = list(runs_dir.glob("*/record.json"))
        made = set(owned.values()) | {finetune["run_id"]}
        lost = sorted(made - {p.parent.name for p in records})
    lat = np.asarray(latencies)
    busy = np.asarray(training_busy, dtype=bool)

    def pct(x, q):
        return round(float(np.percentile(x, q)), 3) if len(x) else None

    out = stamp(clients=a.clients, seconds=a.seconds, wall_seconds=round(wall, 1), errors=errors,
                jobs_finished=len(owned), finetune_status=finetune["status"], finetune_seconds=finetune["seconds"],
                try_it_calls=int(len(lat)), try_it_p50_s=pct(lat, 50), try_it_p95_s=pct(lat, 95),
                try_it_p95_while_training_s=pct(lat[busy], 95), try_it_p95_after_training_s=pct(lat[~busy], 95),
                wrong_views=wrong_views, board_entries=len(entries), board_ok=board_ok, records=len(records),
                runs_lost=lost)
    save(out, "load_test")


if __name__ == "__main__":
    main()
