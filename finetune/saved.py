"""Save a trained classifier as safetensors (LoRA: the adapter and head; full: the model) and load
it back for predictions (Try it, tests). Nothing is ever read or written as a pickle."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import torch

from comparisons.ground.errors import UserError
from comparisons.ground.models import device_name


def save_classifier(model, tokenizer, folder: Path, mode: str, input_template: str = "{text}",
                    max_length: int = 128) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    cfg = model.config if mode == "full" else model.base_model.model.config
    base = getattr(model, "peft_config", {}).get("default")
    meta = {"mode": mode, "num_labels": cfg.num_labels, "label_names": [cfg.id2label[i] for i in range(cfg.num_labels)],
            "base_model": base.base_model_name_or_path if base is not None else None,
            "input_template": input_template, "max_length": max_length}
    (folder / "tpr_model.json").write_text(json.dumps(meta, indent=1))
    return folder


@functools.lru_cache(maxsize=4)
def load_saved_classifier(folder: str):
    """(model, tokenizer, label_names) from a folder written by save_classifier; cached per process."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder_p = Path(folder)
    meta_path = folder_p / "tpr_model.json"
    if not meta_path.exists():
        raise UserError(f"{folder} holds no saved classifier.")
    meta = json.loads(meta_path.read_text())
    tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    kwargs = dict(num_labels=meta["num_labels"], id2label=dict(enumerate(meta["label_names"])),
                  label2id={n: i for i, n in enumerate(meta["label_names"])}, dtype=torch.float32, use_safetensors=True)
    if meta["mode"] == "lora":
        from peft import PeftModel

        base = AutoModelForSequenceClassification.from_pretrained(meta["base_model"], trust_remote_code=False, **kwargs)
        base.config.pad_token_id = tok.pad_token_id
        model = PeftModel.from_pretrained(base, folder)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=False, **kwargs)
        model.config.pad_token_id = tok.pad_token_id
    return model.eval().to(device_name()), tok, meta["label_names"]


def predict_texts(folder: str, texts: list[str]) -> torch.Tensor:
    """Label probabilities for raw texts from a saved classifier (its own input template)."""
    from .tensors import TokenizedTweets, predict_logits

    model, tok, _ = load_saved_classifier(str(folder))
    meta = json.loads((Path(folder) / "tpr_model.json").read_text())
    ds = TokenizedTweets(
        tok, texts, [0] * len(texts), meta.get("max_length", 128), meta.get("input_template", "{text}")
    )
    return torch.softmax(torch.from_numpy(predict_logits(model, ds, tok)), -1)
