"""Diagnostics read from a run: overfitting/underfitting from the history, and catastrophic
forgetting as language-model perplexity on general English before and after fine-tuning."""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import torch

from comparisons.ground.errors import UserError
from comparisons.ground.hub import hub_available
from comparisons.ground.models import cache_root, folder_fingerprint
from comparisons.ground.settings import settings

BUNDLED_PASSAGES = Path(__file__).with_name("general_english.txt")

# Rules of the verdict, stated so that the UI and README can quote them.
OVERFIT_RISES = 2  # eval loss rose for this many evaluations in a row while train loss fell
UNDERFIT_MARGIN = 0.05  # train accuracy within this of the majority-class rate


def fit_verdict(history: list[dict], majority_rate: float) -> dict:
    """Train-vs-eval gap over time, the best step, and a plain-words verdict with its rule."""
    evals = [h for h in history if "eval_loss" in h]
    if not evals:
        return {"verdict": "unknown", "reason": "no evaluation was recorded", "rule": ""}
    best = min(evals, key=lambda h: h["eval_loss"])
    last = evals[-1]
    gap_loss = [round(h["eval_loss"] - h["train_loss"], 4) for h in evals if "train_loss" in h]
    gap_acc = [round(h["train_accuracy"] - h["eval_accuracy"], 4) for h in evals if "train_accuracy" in h]
    rises = 0
    for prev, cur in zip(evals, evals[1:]):
        rises = rises + 1 if cur["eval_loss"] > prev["eval_loss"] else 0
    train_fell = len(evals) > 1 and evals[-1].get("train_loss", math.inf) < evals[0].get("train_loss", -math.inf)
    train_acc = last.get("train_accuracy", last.get("eval_accuracy"))
    if rises >= OVERFIT_RISES and train_fell:
        verdict = "overfitting"
        reason = (f"eval loss rose for {rises} evaluations in a row while train loss fell; "
                  f"the best model was at step {best['step']}")
    elif train_acc is not None and train_acc <= majority_rate + UNDERFIT_MARGIN:
        verdict = "underfitting"
        reason = (f"train accuracy {train_acc:.3f} stays near the majority-class rate {majority_rate:.3f}: "
                  "the model has not learned the task (train longer or with a larger learning rate)")
    else:
        verdict = "good fit"
        reason = "eval loss did not keep rising and train accuracy is well above the majority-class rate"
    return {
        "verdict": verdict, "reason": reason,
        "rule": (f"overfitting: eval loss rose for {OVERFIT_RISES}+ evaluations in a row while train loss fell; "
                 f"underfitting: train accuracy within {UNDERFIT_MARGIN} of the majority-class rate"),
        "best_step": best["step"], "best_eval_loss": best["eval_loss"],
        "final_gap_loss": gap_loss[-1] if gap_loss else None, "final_gap_accuracy": gap_acc[-1] if gap_acc else None,
        "gap_loss": gap_loss, "gap_accuracy": gap_acc, "majority_rate": majority_rate,
    }


MAX_GENERAL_TEXT_CHARS = 20_000_000  # far beyond any probe's tokens; a huge file is read only this far


def general_text(path: str = "") -> tuple[str, str]:
    """General-English text for perplexity: (text, where it came from)."""
    if path:  # named by its file name alone: the origin is shown to visitors and written into model cards
        p = Path(path)
        if not p.is_file():  # a device such as /dev/zero is no text file
            raise UserError(f"forgetting text {p.name}: not found, or not a regular file.")
        with open(p, encoding="utf-8", errors="replace") as f:
            return f.read(MAX_GENERAL_TEXT_CHARS), p.name
    if hub_available():
        try:
            import datasets

            ds = datasets.load_dataset("Salesforce/wikitext", "wikitext-2-raw-v1", split="test")
            return "".join(ds["text"]), "Salesforce/wikitext wikitext-2-raw-v1 test (Hub)"
        except Exception:  # fall through to local copies
            pass
    env = settings()
    for candidate in (env.wikitext, env.shared_wikitext):
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text(encoding="utf-8"), f"WikiText-2 raw test ({Path(candidate).name})"
    return BUNDLED_PASSAGES.read_text(encoding="utf-8"), "bundled general-English passages (WikiText-2 not available)"


def token_windows(tokenizer, text: str, budget: int, window: int) -> torch.Tensor:
    """The first `budget` tokens of the text cut into non-overlapping windows of `window` tokens."""
    ids = tokenizer(text[: budget * 8], add_special_tokens=False)["input_ids"][:budget]
    n = max(1, len(ids) // window)
    ids = ids[: n * window] if len(ids) >= window else ids
    return torch.tensor(ids, dtype=torch.long).view(n, -1)


@torch.no_grad()
def perplexity(body, lm_head, windows: torch.Tensor, batch_size: int = 8) -> float:
    """exp(mean next-token NLL) of `lm_head(body(x))`: any transformer body under any LM head,
    so a classifier's fine-tuned body can be read through the original language-model head."""
    device = next(lm_head.parameters()).device
    total, count = 0.0, 0
    for i in range(0, len(windows), batch_size):
        x = windows[i: i + batch_size].to(device)
        hidden = body(input_ids=x).last_hidden_state
        logits = lm_head(hidden.to(lm_head.weight.dtype)).float()
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1),
                                                 reduction="sum")
        total += loss.item()
        count += x[:, 1:].numel()
    return math.exp(total / max(1, count))


def memoised_perplexity(model_path: str, windows: torch.Tensor, dtype, device: str, compute) -> tuple[float, bool]:
    """The base model's perplexity depends only on its weights, the token windows, dtype and device
    kind, so it is kept on disk and the next run on the same model skips that pass (a 16k-token pass
    of a 135M model is over a minute on 2 CPU cores). Returns (perplexity, served_from_cache).
    Only local model folders are memoised (comparisons.ground.models.folder_fingerprint is part of the key)."""
    model_key = folder_fingerprint(model_path)
    if model_key is None:
        return compute(), False
    h = hashlib.sha256(f"{model_key}|{dtype}|{device}".encode())
    h.update(windows.numpy().tobytes())
    path = cache_root() / "perplexity" / f"{h.hexdigest()[:24]}.json"
    if path.exists():
        try:
            return float(json.loads(path.read_text())["perplexity"]), True
        except (ValueError, KeyError):
            pass  # a damaged entry: measure again
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"perplexity": value, "model": str(model_path), "tokens": int(windows.numel())}))
    tmp.replace(path)
    return value, False


def body_of(model):
    """The transformer body of a causal LM or sequence classifier (GPT-2: .transformer, Llama: .model)."""
    return getattr(model, model.base_model_prefix)
