"""Every GPU check in one prepared call (at most ~8 minutes on one H200), writing one JSON and a short table.

Sections (each recorded even when another fails):
  env        torch, CUDA, the GPU, and the precision the policy picks
  onnx       the ONNX export of an embedder that sits on CUDA, and its embeddings against torch's
  lora       a LoRA run with the forgetting probe: "adapter disabled equals base" must hold on the GPU
  fewshot    label agreement between fp32 and the policy's precision on the same prompts
  speed      tweets/s of the seed recipe against the app's path (bf16, fp16, fp32), GPT-2 124M random init
             with GPT-2's real tokenizer, real tweets
  estimate   the memory estimate against the measured peak (LoRA and full, two batch sizes)
  tests      the gpu-marked tests (TPR_TEST_GPU=1 pytest -m gpu)

Pretrained weights cannot travel to the device machine (64 MiB), so speed uses random-initialised GPT-2 124M
and correctness uses tiny models. Before a device call, copy what it reads into the checkout:

    python -m bench.gpu_check --prepare          # ../shared tokenizer + tweets -> .gpu/, the wheels the device's
                                                 # image lacks -> .whl/ (both git-ignored), and the device call
    python -m bench.gpu_check                    # on the device: writes $OUT/gpu_check.json after each section
    python -m bench.gpu_check --smoke            # on a CPU in a minute (CI runs this): every section, tiny sizes
    python -m bench.gpu_check --smoke --as-device-image   # the same, importing only what the device would have

Run it as a module from the checkout's root (it builds tiny models with tests/tiny.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from unittest import mock

from bench.common import stamp

ROOT = Path(__file__).resolve().parent.parent
CARRIED = ROOT / ".gpu"  # what --prepare copies in for the device machine


def _source(name: str) -> Path:
    """A carried copy (.gpu/) first, else ../shared."""
    from comparisons.ground.settings import settings

    carried = CARRIED / name
    if carried.exists():
        return carried
    shared = {"gpt2-tokenizer": settings().shared_data.parent / "models" / "gpt2-tokenizer",
              "tweets": settings().tweets}[name]
    return shared


DEVICE_SECONDS = 480  # the check's own limit on the device: leaves room to run it twice in a 15-minute lease


def prepare() -> dict:
    """Here, before a device call: copy the tokenizer and tweets into .gpu/, fetch the wheels the device's image
    lacks (bench.device_image) into .whl/, and print the one device call to make."""
    from bench import device_image

    CARRIED.mkdir(exist_ok=True)
    for name in ("gpt2-tokenizer", "tweets"):
        src = _source(name)
        if src == CARRIED / name:
            continue
        shutil.copytree(src, CARRIED / name, dirs_exist_ok=True)
    wheels = device_image.download()
    misfits = [w.name for w in wheels if not device_image.fits_the_device(w)]
    size = sum(f.stat().st_size for d in (CARRIED, device_image.WHEEL_DIR) for f in d.rglob("*") if f.is_file())
    call = {"carry": [".gpu", ".whl"], "timeout_s": DEVICE_SECONDS + 60,
            "command": "python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade "
                       "--target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site && PYTHONUNBUFFERED=1 "
                       f"timeout {DEVICE_SECONDS} python3 -m bench.gpu_check --out $OUT/gpu_check.json"}
    print(f"copied the tokenizer and tweets into {CARRIED.name}/ and {len(wheels)} wheels into "
          f"{device_image.WHEEL_DIR.name}/ ({size / 2**20:.1f} MiB to carry, of the device's 64 MiB)")
    if misfits:
        print(f"warning: these wheels do not fit the device's Python {device_image.DEVICE_PYTHON}: {misfits}")
    print("the device call (the device tool's run):\n" + json.dumps(call, indent=1))
    return {"wheels": [w.name for w in wheels], "carry_mib": round(size / 2**20, 1), "call": call}


# ---------------------------------------------------------------- sections


def section_env(ctx) -> dict:

    from comparisons.ground.device import current_precision, device_info

    p = current_precision()
    return {**device_info(p), "precision_reason": p.reason, "tf32": p.tf32}


def section_onnx(ctx) -> dict:
    """Export a (tiny, random) embedder that lives on the GPU; ONNX Runtime embeds like torch."""
    import numpy as np
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    from rag.onnx_backend import OnnxEncoder, _export
    from tests.tiny import make_tokenizer

    folder = Path(tempfile.mkdtemp(prefix="gpu-emb-"))
    tok = make_tokenizer(folder, ["an example tweet", "another longer example of a tweet"])
    tok.pad_token = "<pad>"
    tok.save_pretrained(folder)
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(folder)
    body = models.Transformer(str(folder))
    st = SentenceTransformer(modules=[body, models.Pooling(32, "mean"), models.Normalize()], device=ctx["device"])
    target = folder / "model.onnx"
    _export(st, target, quantize=False)
    texts = ["an example tweet", "another longer example of a tweet", "example"]
    onnx_vecs = OnnxEncoder(st.tokenizer, 64, target).encode(texts)
    torch_vecs = st.encode(texts, convert_to_numpy=True)
    return {"exported_from": str(next(st[0].auto_model.parameters()).device),
            "min_cosine_vs_torch": round(float(np.min(np.sum(onnx_vecs * torch_vecs, 1))), 6)}


def _tiny_gpt2() -> str:
    from tests.tiny import make_tiny

    texts = [line for line in (ROOT / "comparisons" / "sample_tweets.csv").read_text().splitlines()]
    return str(make_tiny(Path(tempfile.mkdtemp(prefix="gpu-tiny-")), "gpt2", texts))


def _sample(n_train: int, n_eval: int):
    from comparisons.ground.data import load_data, subset

    return subset(load_data("sample"), n_train, n_eval, seed=0)


def section_lora(ctx) -> dict:
    from finetune.config import FinetuneConfig
    from finetune.train import run

    record = run(FinetuneConfig(model=ctx["tiny"], mode="lora", epochs=2, batch_size=16, forgetting_tokens=512,
                                n_evals=2), _sample(120, 40))
    f = record.diagnostics["forgetting"]
    return {"status": record.status, "precision": record.hardware.get("precision"),
            "adapter_disabled_equals_base": f.get("adapter_disabled_equals_base"),
            "perplexity_before": f["before"], "perplexity_after": f["after"],
            "after_adapter_disabled": f.get("after_adapter_disabled"), "base_on_check_window": f.get(
                "base_on_check_window"), "accuracy": record.metrics.get("accuracy")}


def section_fewshot(ctx) -> dict:
    """The same prompts scored by the model in fp32 and in the policy's precision: do the labels agree?"""
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM

    from comparisons.ground.device import current_precision
    from fewshot.config import FewshotConfig
    from fewshot.run import FewshotClassifier

    data = _sample(120, ctx["fewshot_tweets"])
    model_dir = ctx["gpt2_124m"]
    clf = FewshotClassifier(FewshotConfig(model=model_dir, shots=4, selection="balanced", calibrate=False), data)
    dtype = current_precision().torch_dtype
    out = {}
    for name, dt in (("fp32", torch.float32), ("policy", dtype)):
        clf.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dt).eval().to(ctx["device"])
        t0 = time.perf_counter()
        out[name] = clf.score(data.test.texts)["probs"]
        out[f"{name}_seconds"] = round(time.perf_counter() - t0, 3)
    agree = float(np.mean(out["fp32"].argmax(1) == out["policy"].argmax(1)))
    return {"policy_dtype": str(dtype), "tweets": len(data.test), "label_agreement": round(agree, 4),
            "max_prob_difference": round(float(np.abs(out["fp32"] - out["policy"]).max()), 5),
            "fp32_seconds": out["fp32_seconds"], "policy_seconds": out["policy_seconds"]}


def _gpt2_124m(ctx) -> str:
    """GPT-2 124M (or a small GPT-2 on --smoke), random init, with GPT-2's real tokenizer."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from comparisons.ground.models import gpt2_tokenizer_from_files

    tok = gpt2_tokenizer_from_files(_source("gpt2-tokenizer"))
    cfg = GPT2Config(n_layer=2, n_embd=64, n_head=2) if ctx["smoke"] else GPT2Config()
    cfg.pad_token_id = tok.eos_token_id
    folder = Path(tempfile.mkdtemp(prefix="gpu-gpt2-"))
    torch.manual_seed(0)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def _tweets(n_train: int, n_eval: int):
    from comparisons.ground.data import load_data, subset

    return subset(load_data(str(_source("tweets"))), n_train, n_eval, seed=42)


def section_speed(ctx) -> dict:
    """tweets/s of the seed recipe and of the app's own path, same model, same tweets, same machine."""
    from bench.finetune_speed import seed_recipe
    from comparisons.ground.device import current_precision
    from finetune.config import PRESETS, FinetuneConfig
    from finetune.train import run

    out = {"model": "GPT-2 124M (random init)" if not ctx["smoke"] else "GPT-2 2x64 (smoke)"}
    out["seed_recipe"] = seed_recipe(ctx["gpt2_124m"], _tweets(ctx["seed_tweets"], 64), ctx["device"] == "cuda",
                                     warmup_steps=ctx["seed_warmup_steps"])
    gpu = PRESETS["gpu"].values
    precisions = ["bf16", "fp16", "fp32"] if ctx["device"] == "cuda" else ["fp32"]
    data = _tweets(ctx["speed_tweets"], 256)
    for name in precisions:
        if ctx["device"] == "cuda" and current_precision(name).name != name:
            out[name] = {"skipped": f"{name} is not native here"}
            continue
        config = FinetuneConfig(model=ctx["gpt2_124m"], mode="full", epochs=1, precision=name,
                                **{**gpu, "forgetting_tokens": 0, "save_model": False, "train_slice": False,
                                   "n_evals": 1, "curve_size": 64, "head_init": "random", "input_template": "{text}"})
        if ctx["smoke"]:
            config.batch_size = 32
        if name == "fp32":  # a true fp32 row: the policy's fp32 on Ampere and newer allows TF32 matmuls
            import finetune.train

            with mock.patch.object(finetune.train, "apply_matmul_policy", _tf32_off):
                record = run(config, data)
        else:
            record = run(config, data)
        out[name] = {"tweets": len(data.train), "batch_size": config.batch_size,
                     "tweets_per_second": record.timings["tweets_per_second"],
                     "train_seconds": record.timings["train_seconds"], "peak_gpu_mb": record.diagnostics[
                         "memory"].get("peak_cuda_mb"), "precision": record.hardware.get("precision")}
    best = max((v["tweets_per_second"] for v in out.values() if isinstance(v, dict) and "tweets_per_second" in v
                and v is not out["seed_recipe"]), default=None)
    if best:
        out["speedup_over_seed"] = round(best / out["seed_recipe"]["tweets_per_second"], 1)
        out["goal_10k_met"] = best >= 10_000
    return out


def _tf32_off(precision) -> None:
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def section_estimate(ctx) -> dict:
    """The estimate made before a run against the peak measured during it."""
    from comparisons.running.api import run_method
    from finetune.config import FinetuneConfig

    rows = []
    data = _tweets(ctx["estimate_tweets"], 64)
    for mode in ("lora", "full"):
        for batch in ctx["estimate_batches"]:
            config = FinetuneConfig(model=ctx["gpt2_124m"], mode=mode, epochs=1, batch_size=batch, forgetting_tokens=0,
                                    save_model=False, n_evals=1, curve_size=32, head_init="random",
                                    max_length=64)
            record = run_method("finetune", config, data, store=None)
            est = record.diagnostics.get("estimate", {})
            measured = est.get("measured_peak_mb")
            rows.append({"mode": mode, "batch_size": batch, "estimate_mb": est.get("memory_mb"),
                         "measured_mb": measured, "ratio": round(est["memory_mb"] / measured, 3) if measured else None,
                         "estimate_seconds": round(est.get("seconds", 0), 1),
                         "measured_seconds": record.timings.get("total_seconds")})
    return {"rows": rows, "within_30_percent": all(r["ratio"] and 0.7 <= r["ratio"] <= 1.3 for r in rows)}


def section_tests(ctx) -> dict:
    env = {**os.environ, "TPR_TEST_GPU": "1", "HF_HUB_OFFLINE": "1"}
    if ctx["smoke"]:
        env.pop("TPR_TEST_GPU")  # on a CPU the gpu tests are skipped, which is what the smoke run checks
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests/gpu", "-p", "no:cacheprovider"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=ctx["tests_timeout"])
    return {"returncode": out.returncode, "summary": (out.stdout.strip().splitlines() or [""])[-1],
            "tail": out.stdout[-1500:] if out.returncode else ""}


SECTIONS = {"env": section_env, "onnx": section_onnx, "lora": section_lora, "fewshot": section_fewshot,
            "speed": section_speed, "estimate": section_estimate, "tests": section_tests}


def table(result: dict) -> str:
    s = result["sections"]
    lines = [f"GPU check {result['date']} on {s.get('env', {}).get('gpu', 'cpu')} ({result['mode']})"]
    for name, v in s.items():
        if "error" in v:
            lines.append(f"- {name}: ERROR {v['error']}")
    if "speed" in s and "seed_recipe" in s["speed"]:
        sp = s["speed"]
        lines.append(f"- seed recipe {sp['seed_recipe']['tweets_per_second']} tweets/s; app path " + ", ".join(
            f"{k} {v['tweets_per_second']}" for k, v in sp.items() if isinstance(v, dict) and "tweets_per_second" in v
            and k != "seed_recipe") + f" tweets/s; speed-up x{sp.get('speedup_over_seed')}")
    if "lora" in s and "adapter_disabled_equals_base" in s["lora"]:
        lines.append(f"- LoRA adapter disabled equals base: {s['lora']['adapter_disabled_equals_base']}")
    if "fewshot" in s and "label_agreement" in s["fewshot"]:
        lines.append(f"- few-shot labels fp32 vs {s['fewshot']['policy_dtype']}: {s['fewshot']['label_agreement']}")
    if "estimate" in s and "rows" in s["estimate"]:
        lines.append("- memory estimate / measured: " + ", ".join(
            f"{r['mode']} b{r['batch_size']} {r['ratio']}" for r in s["estimate"]["rows"]))
    if "tests" in s:
        lines.append(f"- gpu tests: {s['tests'].get('summary')}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny sizes on any device (seconds on a CPU)")
    p.add_argument("--prepare", action="store_true", help="copy the tokenizer and tweets into .gpu/, fetch the "
                   "wheels the device lacks into .whl/, print the device call, and exit")
    p.add_argument("--as-device-image", action="store_true", help="import only what the device's image holds or "
                   "the check carries (bench.device_image), as the device would")
    p.add_argument("--only", default="", help="comma-separated sections (default: all)")
    p.add_argument("--out", default="", help="the JSON's path (default: $OUT/gpu_check.json, else bench/out/)")
    a = p.parse_args(argv)
    if a.prepare:
        prepare()
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    blocker = None
    if a.as_device_image:
        from bench import device_image

        blocker = device_image.emulate()
    import torch

    smoke = a.smoke
    ctx = {"smoke": smoke, "device": "cuda" if torch.cuda.is_available() else "cpu",
           "seed_tweets": 8 if smoke else 2048, "seed_warmup_steps": 1 if smoke else 25,
           "speed_tweets": 64 if smoke else 20_000,
           "fewshot_tweets": 16 if smoke else 200, "estimate_tweets": 32 if smoke else 2048,
           "estimate_batches": (8, 16) if smoke else (64, 256), "tests_timeout": 120 if smoke else 240}
    ctx["tiny"] = _tiny_gpt2()
    ctx["gpt2_124m"] = _gpt2_124m(ctx)
    chosen = [s for s in (a.only.split(",") if a.only else SECTIONS) if s]
    result = stamp(mode="smoke" if smoke else "full", sections={})
    out = Path(a.out or (Path(os.environ["OUT"]) / "gpu_check.json" if os.environ.get("OUT") else
                         ROOT / "bench" / "out" / "gpu_check.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        t0 = time.perf_counter()
        try:
            result["sections"][name] = SECTIONS[name](ctx)
        except Exception as e:  # one broken check must not hide the others' figures
            result["sections"][name] = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-2000:]}
        result["sections"][name]["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"[{name}] {json.dumps(result['sections'][name], default=str)[:400]}", flush=True)
        if blocker is not None:
            result["blocked_imports"] = sorted(blocker.blocked)
        out.write_text(json.dumps(result, indent=1, default=str))  # each section's figures kept as it finishes
    print(table(result))
    return 1 if any("error" in v for v in result["sections"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
