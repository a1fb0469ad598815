"""Settings of a fine-tuning run, declared once: the CLI's flags and the app's widgets are built from
these fields. Defaults were measured on the real tweets (bench/RESULTS.md). Torch-free."""

from __future__ import annotations

from dataclasses import dataclass

from comparisons.ground.config import SEED_MAX, ConfigBase, Preset, setting
from comparisons.ground.device import PRECISIONS
from comparisons.ground.models import LM_CHOICES
from comparisons.ground.templates import check_template

MODES = ("lora", "full", "head")
HEAD_INITS = ("label_words", "random")
# Learning rates per mode: LoRA adapters start at zero and need a larger step than full weights.
INPUT_TEMPLATE_MAX_CHARS = 500
DEFAULT_LR = {"lora": 1e-3, "full": 3e-5, "head": 0.0}  # head: a logistic regression, no learning rate


@dataclass
class FinetuneConfig(ConfigBase):
    model: str = setting(
        "auto", "Hub id, local folder, or 'auto' (gpt2; the bundled SmolLM2 offline)", label="Model",
        suggestions=tuple(LM_CHOICES), place="main")
    mode: str = setting("lora", "lora: adapters and the head train; full: every weight trains; head: the LM stays "
                        "frozen, a logistic head trains on its features (transfer learning)", label="Mode",
                        choices=MODES, place="main")
    learning_rate: float | None = setting(
        None, "empty = the mode's default: 1e-3 LoRA, 3e-5 full", label="Learning rate", low=0, high=1,
        low_open=True, place="main", flags=("--lr",))
    # One epoch reaches >= 0.70 on 1,000 real tweets for both modes (bench/RESULTS.md).
    epochs: float = setting(1.0, "passes over the train split (fractions allowed)", label="Epochs", low=0, high=100,
                            low_open=True, hint="Train for at least part of an epoch.", place="main")
    min_steps: int = setting(0, "train at least this many optimizer steps, i.e. more epochs on a small train split "
                             "(a study over data sizes); 0 = the epochs alone", label="Minimum steps", low=0,
                             high=1_000_000)
    batch_size: int = setting(16, "tweets per optimizer step (per device)", label="Batch size", low=1, high=4096,
                              place="main")
    grad_accum: int = setting(1, "micro-batches per optimizer step", label="Gradient accumulation", low=1, high=1024)
    max_length: int = setting(128, "tokens per tweet (tweets average ~19 tokens; 128 truncates almost none)",
                              label="Max length (tokens)", low=8, high=8192)
    weight_decay: float = setting(0.01, "AdamW weight decay", low=0, high=1)
    warmup_ratio: float = setting(0.1, "share of steps with a rising learning rate", low=0, high=0.9)
    seed: int = setting(42, "seed of the data subsets, the curve slices and the weights' init",
                        low=0, high=SEED_MAX, place="data")
    eval_steps: int = setting(0, "steps between evaluations; 0 = about n_evals evaluations over the run", low=0)
    n_evals: int = setting(3, "evaluations over the run (when eval_steps is 0)", label="Evaluations per run",
                           low=1, high=1000)
    patience: int = setting(0, "stop early after this many worse evaluations (eval loss); 0 = off",
                            label="Early-stopping patience (0 = off)", low=0, high=1000)
    train_slice: bool = setting(True, "also score a train slice at each evaluation (the overfitting gap)")
    # The curves use a fixed slice so that evaluating stays cheap on a CPU; final metrics use all of eval.
    curve_size: int = setting(128, "eval (and train) rows scored at each evaluation; 0 = all eval rows", low=0)
    lora_r: int = setting(16, "rank of the LoRA adapters", label="LoRA r", low=1, high=1024)
    lora_alpha: int = setting(32, "LoRA scaling (alpha / r multiplies the update)", label="LoRA alpha", low=1,
                              high=4096)
    lora_dropout: float = setting(0.05, "dropout on the LoRA input", label="LoRA dropout", low=0, high=0.9)
    lora_targets: str = setting("", "comma-separated module names; empty = the architecture's default",
                                label="LoRA target modules")
    # The classifier reads its input in the same shape as a few-shot prompt and its head starts as the
    # LM's own next-token scores for the label words ("Tweet: ...\nSentiment:" -> " positive"), so
    # training starts from zero-shot prompting instead of a random head (LM-BFF style).
    input_template: str = setting("Tweet: {text}\nSentiment:", "how a tweet is shown to the classifier; must "
                                  "contain {text} (its only placeholder)", max_chars=INPUT_TEMPLATE_MAX_CHARS)
    head_init: str = setting("label_words", "label_words: the head starts as the LM's scores for the label words",
                             choices=HEAD_INITS)
    precision: str = setting("auto", "auto: bf16 where the GPU has it natively, fp16 mixed precision on older GPUs "
                             "(T4), fp32 on CPU; or force one (fp32 master weights always)", label="Precision",
                             choices=PRECISIONS)
    torch_compile: bool = setting(False, "torch.compile the model (lengths bucketed so shapes repeat)")
    eval_batch_size: int = setting(64, "tweets per evaluation batch", low=1, high=8192)
    forgetting_tokens: int = setting(16384, "WikiText tokens for the forgetting probe; 0 = skip it",
                                     label="Forgetting probe tokens (0 = off)", low=0, high=10_000_000)
    forgetting_text: str = setting("", "a text file for the forgetting probe; empty = WikiText-2 (Hub, "
                                   "$TPR_WIKITEXT, ../shared), else bundled passages", place="cli", max_chars=4096)
    save_model: bool = setting(True, "save the adapter or model (safetensors) beside the record")

    def check(self):
        check_template(self.input_template, "input_template", allowed=("text",), required=("text",),
                       max_chars=INPUT_TEMPLATE_MAX_CHARS)

    @property
    def lr(self) -> float:
        return self.learning_rate or DEFAULT_LR[self.mode]


# Where the app or Run all uses other values than the defaults, each is a named preset with its reason.
PRESETS = {
    "app": Preset("app", {"forgetting_tokens": 4096},
                  "Interactive runs in the app: the fine-tuned model's perplexity pass over 16,384 tokens takes "
                  "60-70 s on 2 CPU cores (bench/RESULTS.md); 4,096 tokens take a quarter of that. The CLI and "
                  "benchmarks keep 16,384.",
                  note="Here, forgetting is measured on 4,096 tokens of general English (a quarter of the command "
                       "line's) so that a run stays short; raise it under More settings for a steadier figure."),
    "gpu": Preset("gpu", {"batch_size": 64, "eval_batch_size": 512},
                  "On a GPU: larger batches keep it busy (fused AdamW, bf16/fp16 from the precision policy, loader "
                  "workers and padding to a multiple of 8 come with CUDA by themselves); 64 still gives 16 steps an "
                  "epoch on 1,000 tweets. Throughput benchmarks use larger batches (bench/gpu_check.py)."),
    "run_all_cpu": Preset("run_all_cpu", {"epochs": 0.125, "forgetting_tokens": 512, "n_evals": 1, "curve_size": 32},
                          "Run all on a CPU: an eighth of an epoch per fine-tuning, a 512-token probe and one small "
                          "curve evaluation keep the whole comparison near 4 minutes (bench/RESULTS.md). Underfit "
                          "by design: the verdict says so."),
    "run_all_gpu": Preset("run_all_gpu", {"epochs": 1.0, "forgetting_tokens": 16384, "n_evals": 3, "curve_size": 128},
                          "Run all on a GPU: the defaults (one epoch, the 16k-token probe)."),
}
