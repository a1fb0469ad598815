"""The same training under torchrun: 2 CPU processes (gloo), the Trainer's own data parallelism."""
import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def test_torchrun_two_cpu_processes_write_one_record(tiny_gpt2, tmp_path):
    runs = tmp_path / "runs"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TPR_EMBED_CACHE": str(tmp_path / "c")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
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
