"""The same training under torchrun: 2 CPU processes (gloo), the Trainer's own data parallelism."""
import json
import math
import os
import subprocess
import sys

from tests.conftest import ROOT, free_port


def test_torchrun_two_cpu_processes_write_one_record(tiny_gpt2, tmp_path):
    runs = tmp_path / "runs"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TPR_EMBED_CACHE": str(tmp_path / "c")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           "-m", "comparisons", "run", "--method", "finetune", "--model", tiny_gpt2, "--data", "sample",
           "--train-size", "64", "--eval-size", "16", "--epochs", "1", "--batch-size", "8", "--lr", "1e-3",
           "--forgetting-tokens", "0", "--runs-dir", str(runs), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    assert len(lines) == 1  # rank 0 alone prints
    summary = json.loads(lines[0])
    records = list(runs.glob("*/record.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["status"] == "completed" and record["run_id"] == summary["run_id"]
    dist = record["diagnostics"]["distributed"]
    assert dist["world_size"] == 2
    # 64 tweets, batch 8 per rank: each rank trained on half of them.
    assert dist["examples_per_rank"] == [32, 32]


def _torchrun(args, tmp_path, port):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TPR_EMBED_CACHE": str(tmp_path / "c")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           "-m", "comparisons", "run", *args, "--data", "sample", "--train-size", "64", "--eval-size", "16",
           "--runs-dir", str(tmp_path / "runs"), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")], \
        [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/record.json")]


def test_under_torchrun_a_method_without_ddp_runs_once_and_adaptation_counts_every_rank(tiny_gpt2, tmp_path):
    """TF-IDF has no data parallelism: rank 0 runs it, once (it ran whole on every rank, each writing a record).
    Adaptation trains with the Trainer's DDP: its steps count every rank's blocks."""
    printed, records = _torchrun(["--method", "baseline"], tmp_path / "a", free_port())
    assert len(printed) == 1 and len(records) == 1 and records[0]["status"] == "completed"
    printed, records = _torchrun(["--method", "adapt", "--model", tiny_gpt2, "--mode", "full", "--block-size", "16",
                                  "--batch-size", "4", "--perplexity-tokens", "64", "--no-save-model"],
                                 tmp_path / "b", free_port())
    assert len(printed) == 1 and len(records) == 1
    blocks = records[0]["diagnostics"]["adaptation"]["blocks"]
    assert records[0]["diagnostics"]["distributed"]["world_size"] == 2
    assert records[0]["timings"]["steps"] == math.ceil(blocks / (4 * 2))  # one step: 4 blocks on each of 2 ranks
