"""Checks that need CUDA: skipped unless TPR_TEST_GPU=1 (bench/gpu_check.py runs them on the device machine).
Tiny models: correctness, not speed."""

import pytest
import torch

from comparisons.ground.data import load_data, subset

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _needs_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")


def test_precision_policy_matches_the_device():
    from comparisons.ground.device import current_precision, detect

    caps, p = detect(), current_precision()
    assert caps.cuda and p.device == "cuda"
    assert p.name == ("bf16" if caps.capability >= (8, 0) else "fp16")
    assert p.tf32 == (caps.capability >= (8, 0))


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_short_finetune_on_cuda_with_the_forgetting_probe(mode, tiny_gpt2):
    from finetune.config import FinetuneConfig
    from finetune.train import run

    record = run(FinetuneConfig(model=tiny_gpt2, mode=mode, epochs=2, batch_size=16, forgetting_tokens=256, n_evals=2),
                 subset(load_data("sample"), 100, 30, seed=0))
    assert record.status == "completed" and record.device == "cuda"
    assert record.hardware["precision"] in ("bf16", "fp16") and record.diagnostics["memory"]["peak_cuda_mb"] > 0
    f = record.diagnostics["forgetting"]
    if mode == "lora":
        assert f["adapter_disabled_equals_base"] is True  # same dtype before and after: holds on a GPU too


def test_fewshot_and_rag_on_cuda(tiny_gpt2):
    from fewshot.config import FewshotConfig
    from fewshot.run import run as fewshot_run
    from rag.config import RagConfig
    from rag.embed import register_embedder
    from rag.run import run as rag_run
    from tests.stand_in import HashEmbedder

    data = subset(load_data("sample"), 60, 20, seed=0)
    fs = fewshot_run(FewshotConfig(model=tiny_gpt2, shots=2, selection="balanced"), data)
    assert fs.status == "completed" and fs.device == "cuda" and len(fs.predictions["y_pred"]) == 20
    register_embedder("test-hash", HashEmbedder)
    rag = rag_run(RagConfig(embedder="test-hash", mode="prompt", model=tiny_gpt2, k=2), data)
    assert rag.status == "completed"


def test_fewshot_labels_agree_between_fp32_and_the_policys_precision(tiny_llama):
    from transformers import AutoModelForCausalLM

    from comparisons.ground.device import current_precision
    from fewshot.config import FewshotConfig
    from fewshot.run import FewshotClassifier

    data = subset(load_data("sample"), 60, 40, seed=0)
    clf = FewshotClassifier(FewshotConfig(model=tiny_llama, shots=2, selection="balanced", calibrate=False), data)
    probs = {}
    for dtype in (torch.float32, current_precision().torch_dtype):
        clf.model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=dtype).eval().cuda()
        probs[dtype] = clf.score(data.test.texts)["probs"]
    a, b = probs.values()
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.9
