"""The runs folder under a cap: 10 full fine-tunings in a row, each saving a ~340 MB model, with
TPR_RUNS_MAX_GB=2. A thread samples the folder's size every 50 ms all along (writes included); at the end every
record must remain and the oldest models must be the ones evicted.

    python -m bench.disk_cap [--runs 10] [--cap-gb 2]

The model is GPT-2's architecture with GPT-2's real tokenizer (../shared/models/gpt2-tokenizer, 50,257 tokens), one
layer of width 1,280, random weights: 86 M parameters, so that each full fine-tuning writes a large file in seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.common import save, stamp  # noqa: E402
from comparisons.ground.disk import GB, folder_bytes  # noqa: E402
from comparisons.ground.runs import RunStore  # noqa: E402
from comparisons.ground.settings import PROJECT_ROOT  # noqa: E402
from comparisons.running.api import Selection, make_config, run_method  # noqa: E402

TOKENIZER = PROJECT_ROOT.parent / "shared" / "models" / "gpt2-tokenizer"


def large_model(folder: Path, width: int = 1280) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    vocab = json.loads((TOKENIZER / "vocab.json").read_text())
    merges = [tuple(line.split()) for line in (TOKENIZER / "merges.txt").read_text().splitlines()[1:] if line]
    tok = GPT2TokenizerFast(vocab=vocab, merges=merges)
    tok.save_pretrained(folder)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=width, n_head=16, n_positions=256, vocab_size=len(vocab)))
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--cap-gb", type=float, default=2.0)
    a = p.parse_args()
    if not (TOKENIZER / "vocab.json").exists():
        raise SystemExit(f"GPT-2's tokenizer files are not at {TOKENIZER}")
    work = Path(tempfile.mkdtemp(prefix="tpr-disk-cap-"))
    model = large_model(work / "model")
    runs = work / "runs"
    os.environ.update(TPR_RUNS_MAX_GB=str(a.cap_gb), TPR_OWNER_MAX_GB="0")
    store = RunStore(runs)
    peak, stop = [0], threading.Event()

    def sample():
        while not stop.wait(0.05):
            peak[0] = max(peak[0], folder_bytes(runs))

    threading.Thread(target=sample, daemon=True).start()
    data = Selection(source="sample", train_size=60, eval_size=24).load()
    config = make_config("finetune", {"model": str(model), "mode": "full", "epochs": 1, "batch_size": 8,
                                      "forgetting_tokens": 0, "curve_size": 0, "n_evals": 1, "input_template": "{text}",
                                      "head_init": "random", "precision": "fp32"})
    made, t0 = [], time.perf_counter()
    for i in range(a.runs):
        r = run_method("finetune", config, data, store=store)
        made.append(r.run_id)
        after = {x.run_id: x for x in RunStore(runs).list()}
        evicted = [rid for rid in made if after[rid].artifacts.get("model_evicted")]
        print(f"run {i + 1}: {r.status}, model {r.artifacts.get('model_bytes', 0) / 2**20:.0f} MB, folder "
              f"{folder_bytes(runs) / GB:.2f} GB, models evicted so far: {len(evicted)}", flush=True)
    stop.set()
    final = {x.run_id: x for x in RunStore(runs).list()}
    evicted = [rid for rid in made if final[rid].artifacts.get("model_evicted")]
    kept = [rid for rid in made if final[rid].artifacts.get("model_dir")]
    out = stamp(runs=a.runs, cap_gb=a.cap_gb, model_mb=round(final[made[-1]].artifacts["model_bytes"] / 2**20, 1),
                peak_folder_gb=round(peak[0] / GB, 3), final_folder_gb=round(folder_bytes(runs) / GB, 3),
                records_kept=len([rid for rid in made if rid in final]), models_kept=len(kept),
                models_evicted=len(evicted), oldest_evicted_first=evicted == made[:len(evicted)],
                seconds=round(time.perf_counter() - t0, 1))
    save(out, "disk_cap")


if __name__ == "__main__":
    main()
