"""bench/gpu_check.py, the one prepared device script, runs on any machine in its smoke mode: every section
completes (CI runs this, so the script is ready for whoever is lent a GPU)."""

import json
import os
import subprocess
import sys

import pytest

from comparisons.settings import settings
from tests.conftest import ROOT


def test_gpu_check_smoke_runs_every_section(tmp_path):
    shared = settings().shared_data
    if not (ROOT / ".gpu").exists() and not ((shared.parent / "models" / "gpt2-tokenizer").exists()
                                             and settings().tweets.exists()):
        pytest.skip(f"GPT-2's tokenizer and the real tweets are not under {shared.parent} (set TPR_SHARED_DATA)")
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TPR_CACHE": str(tmp_path / "cache")}
    env.pop("OUT", None)
    proc = subprocess.run([sys.executable, "-m", "bench.gpu_check", "--smoke", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sections = json.loads(out.read_text())["sections"]
    assert set(sections) == {"env", "onnx", "lora", "fewshot", "speed", "estimate", "tests"}
    assert not [name for name, v in sections.items() if "error" in v]
    assert sections["lora"]["adapter_disabled_equals_base"] is True
    assert sections["onnx"]["min_cosine_vs_torch"] > 0.999
    assert sections["speed"]["seed_recipe"]["tweets_per_second"] > 0 and sections["speed"]["fp32"]["tweets_per_second"]
    assert all(0.7 <= r["ratio"] <= 1.3 for r in sections["estimate"]["rows"])  # the issue's ±30 %
    assert "skipped" in sections["tests"]["summary"]  # no CUDA here: the gpu tests are collected and skipped
