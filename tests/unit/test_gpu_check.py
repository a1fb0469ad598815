"""bench/gpu_check.py, the one prepared device script, runs on any machine in its smoke mode: every section
completes (CI runs this, so the script is ready for whoever is lent a GPU)."""

import json
import os
import subprocess
import sys

import pytest

from comparisons.ground.settings import settings
from tests.conftest import ROOT


def test_gpu_check_smoke_runs_every_section(tmp_path):
    shared = settings().shared_data
    if not (ROOT / ".gpu").exists() and not ((shared.parent / "models" / "gpt2-tokenizer").exists()
                                             and settings().tweets.exists()):
        pytest.skip(f"GPT-2's tokenizer and the real tweets are not under {shared.parent} (set TPR_SHARED_DATA)")
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TPR_CACHE": str(tmp_path / "cache")}
    env.pop("OUT", None)
    proc = subprocess.run([sys.executable, "-m", "bench.gpu_check", "--smoke", "--as-device-image", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    sections = result["sections"]
    # Run as the device's image would (bench.device_image): only its packages and the carried wheels import, so
    # every module the check needs is covered; what was refused was optional (gradio, cleanlab, setfit, gguf are
    # not there and the check never needs them).
    assert not {"datasets", "evaluate", "faiss", "torch", "transformers"} & set(result.get("blocked_imports", []))
    assert set(sections) == {"env", "onnx", "lora", "fewshot", "speed", "estimate", "tests"}
    assert not [name for name, v in sections.items() if "error" in v]
    assert sections["lora"]["adapter_disabled_equals_base"] is True
    assert sections["onnx"]["min_cosine_vs_torch"] > 0.999
    assert sections["speed"]["seed_recipe"]["tweets_per_second"] > 0 and sections["speed"]["fp32"]["tweets_per_second"]
    assert all(0.7 <= r["ratio"] <= 1.3 for r in sections["estimate"]["rows"])  # the issue's ±30 %
    assert "skipped" in sections["tests"]["summary"]  # no CUDA here: the gpu tests are collected and skipped


def test_the_device_gets_every_wheel_its_image_lacks_for_its_python(tmp_path):
    """--prepare's wheels: each of the check's needs that the image lacks (with their own needs), for Python 3.12 on
    manylinux x86_64, together well inside the device's 64 MiB carry."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    from bench import device_image

    python = {"python_version": device_image.DEVICE_PYTHON, "python_full_version": f"{device_image.DEVICE_PYTHON}.3",
              "sys_platform": "linux", "platform_machine": "x86_64", "extra": ""}
    for name in device_image.WHEELS:  # what the carried packages need on Python 3.12 is in the image or carried too
        for text in requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate(python):
                assert device_image.normalise(requirement.name) in device_image.allowed(), (name, requirement.name)
    try:
        wheels = device_image.download(tmp_path)
    except subprocess.CalledProcessError:
        pytest.skip("PyPI did not answer: the wheels cannot be fetched here now")
    names = {device_image.normalise(w.name.split("-")[0]) for w in wheels}
    assert names == {device_image.normalise(n) for n in device_image.WHEELS}
    assert all(device_image.fits_the_device(w) for w in wheels), [w.name for w in wheels]
    assert sum(w.stat().st_size for w in wheels) < 40 * 2**20  # with the tokenizer and tweets: under 64 MiB
