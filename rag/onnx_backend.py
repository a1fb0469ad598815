"""ONNX Runtime backend for sentence-transformers embedders, without `optimum`.

sentence-transformers' own `backend="onnx"` needs `optimum[onnxruntime]`, which pip cannot install beside
transformers 5. This backend exports the embedder's transformer once with `torch.onnx.export`, with the
pooling (mean or CLS) and the L2 normalisation inside the graph, and runs it with ONNX Runtime.
`onnx-int8` also quantizes the weights of its matrix products to int8 (ONNX Runtime's dynamic
quantization): faster on CPUs, at a small cost in embedding fidelity (bench/RESULTS.md gives both).

Exports are cached under the project cache, keyed by the model folder's files and the variant.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from comparisons.ground.errors import UserError
from comparisons.ground.models import cache_root, folder_fingerprint

from .config import ONNX_VARIANTS as VARIANTS

_LOCK = threading.Lock()
_SESSIONS: dict[tuple, OnnxEncoder] = {}


def _pooling(st) -> str:
    modes = []
    for module in st:
        mode = getattr(module, "pooling_mode", None)
        if mode is not None:
            modes = [mode] if isinstance(mode, str) else list(mode)
    if modes not in (["mean"], ["cls"]):
        raise UserError(f"the onnx backends support mean or CLS pooling; this embedder pools with {modes or 'none'}. "
                        "Use the torch backend.")
    return modes[0]


def _export(st, target: Path, quantize: bool) -> None:
    import copy

    import torch

    pooling = _pooling(st)
    # Export from an fp32 CPU copy: the embedder may sit on CUDA (or in half precision), while the sample
    # batch and ONNX Runtime's CPU provider live on the CPU. The loaded model is left where it is.
    body = copy.deepcopy(st[0].auto_model).to("cpu", torch.float32).eval()

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body

        def forward(self, input_ids, attention_mask):
            hidden = self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            if pooling == "cls":
                vec = hidden[:, 0]
            else:
                m = attention_mask.unsqueeze(-1).to(hidden.dtype)
                vec = (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
            return torch.nn.functional.normalize(vec, dim=-1)

    sample = st.tokenizer(["an example tweet", "another, longer example of a tweet"], padding=True, return_tensors="pt")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    fp32 = tmp.with_suffix(".fp32.onnx") if quantize else tmp
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled().eval(),
            (sample["input_ids"], sample["attention_mask"]),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
        fp32.unlink(missing_ok=True)
    tmp.replace(target)


class OnnxEncoder:
    """`encode(texts, batch_size)` -> normalised float32 vectors, like SentenceTransformer.encode."""

    def __init__(self, tokenizer, max_length: int, model_file: Path, threads: int | None = None):
        import onnxruntime as ort

        self.tokenizer, self.max_length = tokenizer, max_length
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or max(1, len(os.sched_getaffinity(0)))
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(model_file), opts, providers=["CPUExecutionProvider"])
        self.path = model_file

    def encode(self, texts, batch_size: int = 32, **_ignored) -> np.ndarray:
        texts = list(texts)
        out = []
        for start in range(0, len(texts), batch_size):
            enc = self.tokenizer(
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
            out.append(
                self.session.run(
                    None,
                    {
                        "input_ids": enc["input_ids"].astype(np.int64),
                        "attention_mask": enc["attention_mask"].astype(np.int64),
                    },
                )[0]
            )
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 1), np.float32)


def load_onnx_encoder(resolved, variant: str) -> OnnxEncoder:
    """Export once (cached on disk), then one ONNX Runtime session per (model, variant) in this process."""
    if variant not in VARIANTS:
        raise UserError(f"unknown onnx backend '{variant}'; choose one of {', '.join(VARIANTS)}.")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise UserError(
            "the onnx backends need the onnxruntime package (pip install onnxruntime), or use the torch backend."
        ) from None
    from comparisons.ground.models import load_embedder

    key = (resolved.path, variant)
    with _LOCK:
        if key in _SESSIONS:
            return _SESSIONS[key]
        # A Hub id (no local folder) is keyed by its name: its export is reused until the cache is cleared.
        key_part = folder_fingerprint(resolved.path) or hashlib.sha256(resolved.path.encode()).hexdigest()[:16]
        target = cache_root() / "onnx" / f"{Path(resolved.path).name}-{key_part}" / f"{variant}.onnx"
        meta = target.with_suffix(".json")
        if not (target.exists() and meta.exists()):
            # The torch model is loaded only to export it; a cached export needs just the tokenizer.
            st = load_embedder(resolved, "torch")
            _export(st, target, quantize=variant == "onnx-int8")
            meta.write_text(json.dumps({"max_length": st.max_seq_length or 512}))
            tokenizer = st.tokenizer
        else:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(resolved.path, trust_remote_code=False)
        _SESSIONS[key] = OnnxEncoder(tokenizer, json.loads(meta.read_text())["max_length"], target)
        return _SESSIONS[key]
