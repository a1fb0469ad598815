"""Settings of a fine-tuning run. Defaults were measured on the real tweets (bench/RESULTS.md)."""
from __future__ import annotations

from dataclasses import dataclass

from comparisons.config import ConfigBase, in_range, one_of
from comparisons.errors import UserError

MODES = ("lora", "full")
# Learning rates per mode: LoRA adapters start at zero and need a larger step than full weights.
DEFAULT_LR = {"lora": 1e-3, "full": 3e-5}


@dataclass
class FinetuneConfig(ConfigBase):
    model: str = "auto"  # Hub id, local folder, 'auto' (gpt2, or the bundled SmolLM2 offline)
    mode: str = "lora"  # 'lora' (adapters + head train) or 'full' (every weight trains)
    learning_rate: float | None = None  # None -> the mode's default (DEFAULT_LR)
    epochs: float = 1.0  # one epoch reaches >= 0.70 on 1,000 real tweets for both modes (bench/RESULTS.md)
    batch_size: int = 16
    grad_accum: int = 1
    max_length: int = 128  # tweets average ~19 tokens; 128 truncates almost none
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    seed: int = 42
    eval_steps: int = 0  # 0 -> about `n_evals` evaluations over the run
    n_evals: int = 3
    patience: int = 0  # early stopping on eval loss after this many worse evaluations; 0 = off
    train_slice: bool = True  # also score a fixed train slice of the curve's eval size (the overfitting gap)
    curve_size: int = 128  # rows of eval (and of train) scored at each evaluation; 0 = all eval rows.
    # The curves use a fixed slice so that evaluating stays cheap on a CPU; final metrics use all of eval.
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: str = ""  # comma-separated module names; '' -> per-architecture default
    # The classifier reads its input in the same shape as a few-shot prompt and its head starts as
    # the LM's own next-token scores for the label words ("Tweet: ...\nSentiment:" -> " positive"),
    # so training starts from zero-shot prompting instead of a random head (LM-BFF style).
    input_template: str = "Tweet: {text}\nSentiment:"
    head_init: str = "label_words"  # label_words | random
    bf16: bool = True  # used only on CUDA
    torch_compile: bool = False
    eval_batch_size: int = 64
    forgetting_tokens: int = 16384  # 0 -> skip the perplexity probe
    forgetting_text: str = ""  # a text file; '' -> WikiText-2 (Hub, $TPR_WIKITEXT, ../shared), else bundled passages
    save_model: bool = True

    def __post_init__(self):
        one_of("mode", self.mode, MODES)
        one_of("head_init", self.head_init, ("label_words", "random"))
        if "{text}" not in self.input_template:
            raise UserError("input_template must contain {text}.")
        if self.learning_rate is not None:
            in_range("learning_rate", self.learning_rate, 0, 1, low_open=True)
        in_range("epochs", self.epochs, 0, 100, low_open=True, hint="Train for at least part of an epoch.")
        in_range("batch_size", self.batch_size, 1, 4096)
        in_range("grad_accum", self.grad_accum, 1, 1024)
        in_range("max_length", self.max_length, 8, 8192)
        in_range("weight_decay", self.weight_decay, 0, 1)
        in_range("warmup_ratio", self.warmup_ratio, 0, 0.9)
        in_range("eval_steps", self.eval_steps, 0)
        in_range("n_evals", self.n_evals, 1, 1000)
        in_range("curve_size", self.curve_size, 0)
        in_range("patience", self.patience, 0, 1000)
        in_range("lora_r", self.lora_r, 1, 1024)
        in_range("lora_alpha", self.lora_alpha, 1, 4096)
        in_range("lora_dropout", self.lora_dropout, 0, 0.9)
        in_range("eval_batch_size", self.eval_batch_size, 1, 8192)
        in_range("forgetting_tokens", self.forgetting_tokens, 0, 10_000_000)

    @property
    def lr(self) -> float:
        return self.learning_rate or DEFAULT_LR[self.mode]
