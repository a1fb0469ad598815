"""The one device and precision policy, on simulated hardware (no GPU here), and the device-consistency
fixes that follow from it."""

import pytest
import torch

from comparisons.ground.device import Capabilities, pin_one_gpu, precision_policy

CPU = Capabilities(cuda=False)
T4 = Capabilities(cuda=True, capability=(7, 5), name="Tesla T4", bf16_native=False)
A100 = Capabilities(cuda=True, capability=(8, 0), name="NVIDIA A100-SXM4-40GB", bf16_native=True)
H200 = Capabilities(cuda=True, capability=(9, 0), name="NVIDIA H200", bf16_native=True)


@pytest.mark.parametrize("caps, name, tf32, flags", [
    (CPU, "fp32", False, {"bf16": False, "fp16": False}),
    (T4, "fp16", False, {"bf16": False, "fp16": True}),  # emulated bf16 is slower than fp16 on a T4
    (A100, "bf16", True, {"bf16": True, "fp16": False}),
    (H200, "bf16", True, {"bf16": True, "fp16": False}),
])
def test_precision_follows_native_support(caps, name, tf32, flags):
    p = precision_policy(caps)
    assert (p.name, p.tf32, p.trainer_flags) == (name, tf32, flags)
    assert p.device == ("cuda" if caps.cuda else "cpu")


def test_requests_are_honoured_only_where_native():
    assert precision_policy(T4, "bf16").name == "fp16"  # no native bf16: mixed fp16 instead
    assert precision_policy(A100, "fp32").name == "fp32" and precision_policy(A100, "fp32").tf32
    assert precision_policy(H200, "fp16").name == "fp16"
    assert precision_policy(CPU, "bf16").name == "fp32"
    with pytest.raises(ValueError):
        precision_policy(CPU, "int8")
    assert precision_policy(H200).torch_dtype is torch.bfloat16 and precision_policy(T4).torch_dtype is torch.float16


def test_a_plain_start_on_several_gpus_uses_one_and_says_how_to_use_all():
    env = {}
    notice = pin_one_gpu(env, count_gpus=lambda: 4)
    assert env["CUDA_VISIBLE_DEVICES"] == "0" and "torchrun --nproc_per_node 4" in notice
    env = {"CUDA_VISIBLE_DEVICES": "2,3"}
    assert pin_one_gpu(env) and env["CUDA_VISIBLE_DEVICES"] == "2"
    env = {"WORLD_SIZE": "2", "CUDA_VISIBLE_DEVICES": "0,1"}  # torchrun: every rank sees all, picks its own
    assert pin_one_gpu(env) is None and env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert pin_one_gpu({}, count_gpus=lambda: 1) is None
    assert pin_one_gpu({"CUDA_VISIBLE_DEVICES": ""}) is None


def test_trainer_never_falls_back_to_data_parallel():
    from types import SimpleNamespace

    from finetune.train import one_gpu_per_process

    class Args(SimpleNamespace):
        @property
        def n_gpu(self):
            return self._n_gpu

    assert one_gpu_per_process(Args(_n_gpu=4), world=1).n_gpu == 1  # four GPUs, no torchrun: one GPU
    assert one_gpu_per_process(Args(_n_gpu=1), world=2).n_gpu == 1  # under DDP each rank has one already


def test_training_steps_count_every_rank():
    from finetune.config import FinetuneConfig
    from finetune.train import plan_steps

    config = FinetuneConfig(batch_size=8, n_evals=2)
    assert plan_steps(config, 64, world=1) == (8, 4)
    assert plan_steps(config, 64, world=2) == (4, 2)  # two ranks of 8 per step: half the steps for one epoch


def test_half_precision_scores_use_an_fp32_head(tiny_llama):
    """Label log-probabilities of a bf16 model come from its last hidden states through the LM head in
    fp32, not from bf16 logits; an fp32 model is scored exactly as before."""
    from transformers import AutoModelForCausalLM

    from fewshot.scoring import _call, _forward

    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.bfloat16).eval()
    rows = [[3, 7, 9, 11, 5], [8, 8, 12]]
    got = _forward(model, rows, pad_id=1, keep=2)
    ids = torch.tensor([[1, 1, 8, 8, 12]])
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=(ids != 1).long(), output_hidden_states=True).hidden_states[-1]
        head = model.get_output_embeddings().weight.float()
        want = torch.log_softmax(hidden[:, -2:].float() @ head.T, -1)
    assert torch.allclose(got[1:], want, atol=2e-3)  # the bf16 body differs a little between batch layouts
    bf16_logits = _call(model, 2, input_ids=ids).logits
    assert bf16_logits.dtype == torch.bfloat16  # without fp32_head the logits are rounded to bf16 (step ~0.03):
    assert (torch.log_softmax(bf16_logits.float(), -1) - want).abs().max() > 5e-3  # the check above tells them apart
    fp32 = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32).eval()
    with torch.no_grad():
        plain = torch.log_softmax(fp32(input_ids=torch.tensor([[8, 8, 12]])).logits[:, -2:], -1)
    assert torch.allclose(_forward(fp32, [[8, 8, 12]], pad_id=1, keep=2), plain, atol=1e-5)


def test_probe_and_head_init_load_the_lm_in_the_classifiers_dtype(tiny_gpt2):
    from comparisons.ground.models import load_causal_lm, resolve_lm

    resolved = resolve_lm(tiny_gpt2)
    fp32, _ = load_causal_lm(resolved, dtype=torch.float32)
    bf16, _ = load_causal_lm(resolved, dtype=torch.bfloat16)
    assert fp32 is not bf16 and next(fp32.parameters()).dtype == torch.float32
    assert next(bf16.parameters()).dtype == torch.bfloat16
    assert load_causal_lm(resolved, dtype=torch.float32)[0] is fp32  # cached per dtype


def test_onnx_export_works_from_a_model_that_is_not_on_the_cpu_in_fp32(tmp_path):
    """The export takes an fp32 CPU copy, so a CUDA or half-precision embedder exports; the loaded model is
    left as it was."""
    from rag.onnx_backend import _export
    from tests.tiny import make_tokenizer

    class Pooling(torch.nn.Module):
        pooling_mode = "mean"

    from transformers import BertConfig, BertModel

    body = BertModel(BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32)).to(torch.bfloat16)

    tokenizer = make_tokenizer(tmp_path / "tok")
    tokenizer.pad_token = "<pad>"

    class St(list):
        pass

    St.tokenizer = tokenizer

    first = torch.nn.Module()
    first.auto_model = body
    st = St([first, Pooling()])
    _export(st, tmp_path / "model.onnx", quantize=False)
    assert (tmp_path / "model.onnx").stat().st_size > 0
    assert next(body.parameters()).dtype == torch.bfloat16  # the original is untouched


def test_run_records_say_which_hardware_and_precision(tmp_path):
    from comparisons.ground.data import load_data, subset
    from comparisons.ground.runs import RunStore
    from rag.config import RagConfig
    from rag.embed import register_embedder
    from rag.run import run
    from tests.stand_in import HashEmbedder

    register_embedder("test-hash", HashEmbedder)
    record = run(RagConfig(embedder="test-hash", k=3), subset(load_data("sample"), 40, 10, seed=0),
                 store=RunStore(tmp_path))
    hw = record.hardware
    assert hw["device"] == "cpu" and hw["precision"] == "fp32" and hw["torch"] == torch.__version__
    assert "peak_rss_mb" in record.diagnostics["memory"]
    from comparisons.analysis.report import row

    r = row(record)
    assert r["hardware"] == "cpu" and r["precision"] == "fp32" and r["peak_gpu_mb"] is None


def test_a_record_says_the_precision_its_method_ran_in(monkeypatch, tmp_path):
    """On an Ampere GPU the policy is bf16, but an embedder and scikit-learn run in fp32: their records say so."""
    import comparisons.ground.device
    from comparisons.ground.data import load_data, subset
    from comparisons.ground.runs import RunStore, new_record
    from comparisons.running.api import make_config, run_method
    from rag.embed import register_embedder
    from tests.stand_in import HashEmbedder

    register_embedder("test-hash", HashEmbedder)
    h200 = Capabilities(cuda=True, capability=(9, 0), name="H200", bf16_native=True, memory_bytes=2**37)
    monkeypatch.setattr(comparisons.ground.device, "detect", lambda: h200)
    data = subset(load_data("sample", seed=0), 30, 10, seed=0)
    assert new_record("fewshot", make_config("fewshot", {}), data).hardware["precision"] == "bf16"  # the policy's
    store = RunStore(tmp_path)
    rag = run_method("rag", make_config("rag", {"embedder": "test-hash", "k": 3}), data, store=store, check_fit=False)
    baseline = run_method("baseline", make_config("baseline", {}), data, store=store, check_fit=False)
    assert rag.hardware["gpu"] == "H200" and rag.hardware["precision"] == "fp32"
    assert baseline.hardware["precision"] == "fp32"
